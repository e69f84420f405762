# Copyright (c) mmunireplk contributors. All rights reserved.
"""Models by name, from ``model-index.yml`` and its metafiles."""
import os.path as osp
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')


def load_model_index(index_file: str = MODEL_INDEX) -> List[dict]:
    """Every model of a model index (``Import``-ed metafiles included),
    each a dict with ``name``, ``config`` (absolute path), ``weights``
    (URL or None), ``results`` and ``metadata``.

    Raises:
        FileNotFoundError: If the index or a metafile does not exist.
    """
    import yaml
    if not osp.isfile(index_file):
        raise FileNotFoundError(f'Model index not found: {index_file}')
    root = osp.dirname(osp.abspath(index_file))
    with open(index_file) as f:
        index = yaml.safe_load(f) or {}
    metafiles = [osp.join(root, p) for p in index.get('Import', [])]
    entries = list(index.get('Models', []))
    for metafile in metafiles:
        if not osp.isfile(metafile):
            raise FileNotFoundError(
                f'Metafile {metafile} imported by {index_file} not found')
        with open(metafile) as f:
            entries += (yaml.safe_load(f) or {}).get('Models', [])
    return [
        dict(
            name=m['Name'],
            config=osp.join(root, m['Config']),
            weights=m.get('Weights'),
            results=m.get('Results', []),
            metadata=m.get('Metadata', {})) for m in entries
    ]


def find_model(name: str, index_file: str = MODEL_INDEX) -> Dict:
    """The model-index entry called ``name`` (a config file name without
    ``.py`` also matches).

    Raises:
        ValueError: If no model has that name (the closest names are
            listed).
    """
    models = load_model_index(index_file)
    key = osp.splitext(osp.basename(name))[0]
    for model in models:
        if model['name'] in (name, key):
            return model
    import difflib
    close: Optional[List[str]] = difflib.get_close_matches(
        key, [m['name'] for m in models], n=3, cutoff=0.3)
    raise ValueError(f'{name!r} is neither a config file nor a model of '
                     f'{index_file}' +
                     (f'; did you mean {", ".join(close)}?' if close else ''))
