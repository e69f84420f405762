# Copyright (c) mmunireplk contributors. All rights reserved.
"""UniRepLKNet for the OpenMMLab 2.x stack.

Importing the package only registers its models, hooks and optimiser-wrapper
constructors (``mmunireplk`` scope) and the atomic file backend; it imports
neither mmdet, mmseg nor mmpretrain (``mmunireplk.seg`` / ``.cls`` do). The
weights-only loaders are installed by ``SafeCheckpointHook`` and the tools.
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
