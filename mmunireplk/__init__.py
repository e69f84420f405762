# Copyright (c) mmunireplk contributors. All rights reserved.
"""UniRepLKNet for the OpenMMLab 2.x stack.

Importing the package does exactly this:

- registers its models, hooks and optimiser-wrapper constructors in the
  ``mmunireplk`` registry scope (children of mmengine's root registries);
- replaces mmengine's checkpoint loaders for local files and http(s) URLs
  by weights-only ones with a minimal allow-list, and registers the atomic
  file backend ``'mmunireplk_atomic_local'``
  (:func:`mmunireplk.checkpoint.register_with_mmengine` says why).

It does not import mmdet, mmseg or mmpretrain (``mmunireplk.det``,
``mmunireplk.seg`` and ``mmunireplk.cls`` do).
"""
from . import checkpoint, engine, models, utils  # noqa: F401
from .checkpoint import register_with_mmengine
from .registry import HOOKS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from .version import __version__, version_info

register_with_mmengine()

__all__ = [
    'HOOKS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', '__version__',
    'version_info'
]
