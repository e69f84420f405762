# Copyright (c) mmunireplk contributors. All rights reserved.
"""Models by name, from ``model-index.yml`` and its metafiles.

The index is looked up where an installed package has it, in the
``mmunireplk/.mim`` folder that ``setup.py`` fills (copies in a wheel, links
to the checkout in an editable install), and otherwise in the checkout the
package is imported from (a clone on ``sys.path``, not installed).
"""
import difflib
import os.path as osp
from typing import Dict, List, Optional

import yaml

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDEX_NAME = 'model-index.yml'


def default_model_index(package_dir: str = PACKAGE_DIR) -> str:
    """The ``model-index.yml`` of the package in ``package_dir``:
    ``<package_dir>/.mim/model-index.yml``, else the checkout's
    ``<package_dir>/../model-index.yml``.

    Raises:
        FileNotFoundError: If neither exists (both places are named).
    """
    candidates = [
        osp.join(package_dir, '.mim', INDEX_NAME),
        osp.join(osp.dirname(package_dir), INDEX_NAME)
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'No {INDEX_NAME} found: looked for {candidates[0]} (installed '
        f'package) and {candidates[1]} (checkout); reinstall the package '
        '(pip install . or pip install -e .) to create the first')


def load_model_index(index_file: Optional[str] = None) -> List[dict]:
    """Every model of a model index (``Import``-ed metafiles included),
    each a dict with ``name``, ``config`` (absolute path), ``weights``
    (URL or None), ``results`` and ``metadata``.

    Args:
        index_file (str, optional): The index; defaults to
            :func:`default_model_index`. Paths in it are relative to its
            real location (links resolved: in an editable install, the
            configs of the checkout).

    Raises:
        FileNotFoundError: If the index or a metafile does not exist.
    """
    index_file = index_file or default_model_index()
    if not osp.isfile(index_file):
        raise FileNotFoundError(f'Model index not found: {index_file}')
    root = osp.dirname(osp.realpath(index_file))
    with open(index_file) as f:
        index = yaml.safe_load(f) or {}
    entries = list(index.get('Models', []))
    for name in index.get('Import', []):
        metafile = osp.join(root, name)
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


def find_model(name: str, index_file: Optional[str] = None) -> Dict:
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
    close = difflib.get_close_matches(
        key, [m['name'] for m in models], n=3, cutoff=0.3)
    raise ValueError(f'{name!r} is neither a config file nor a model of '
                     f'{index_file or default_model_index()}' +
                     (f'; did you mean {", ".join(close)}?' if close else ''))
