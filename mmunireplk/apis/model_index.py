# Copyright (c) mmunireplk contributors. All rights reserved.
"""Models by name, from ``model-index.yml`` and its metafiles."""
import difflib
import os.path as osp
from typing import Dict, List, Optional

import yaml

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDEX_NAME = 'model-index.yml'


def default_model_index(package_dir: str = PACKAGE_DIR) -> str:
    """The ``model-index.yml`` of an installed package
    (``<package_dir>/.mim``, filled by ``setup.py``), else of the checkout
    (``<package_dir>/..``); FileNotFoundError naming both otherwise."""
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
    """Every model of a model index (``Import``-ed metafiles included) as
    dicts with ``name``, ``config`` (absolute), ``weights``, ``results`` and
    ``metadata``. Paths are relative to the index's real location (links
    resolved).

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
    """The model-index entry called ``name`` (or a config file's name);
    ValueError listing the closest names otherwise."""
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
