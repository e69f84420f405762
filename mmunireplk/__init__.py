# Copyright (c) mmunireplk contributors. All rights reserved.
"""UniRepLKNet for the OpenMMLab 2.x stack.

Importing the package does exactly this:

- registers its models, hooks and optimiser-wrapper constructors in the
  ``mmunireplk`` registry scope (children of mmengine's root registries);
- registers the atomic file backend ``'mmunireplk_atomic_local'`` with
  mmengine.

The weights-only checkpoint loaders are installed explicitly
(:func:`mmunireplk.checkpoint.install_safe_loaders`): by
``SafeCheckpointHook`` when a config builds it, and by our tools.

It does not import mmdet, mmseg or mmpretrain (``mmunireplk.det``,
``mmunireplk.seg`` and ``mmunireplk.cls`` do).
"""
from . import checkpoint, engine, models, utils  # noqa: F401
from .checkpoint import register_atomic_backend
from .registry import HOOKS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from .version import __version__, version_info

register_atomic_backend()

__all__ = [
    'HOOKS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', '__version__',
    'version_info'
]
