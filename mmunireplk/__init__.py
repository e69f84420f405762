# Copyright (c) mmunireplk contributors. All rights reserved.
"""UniRepLKNet for the OpenMMLab 2.x stack.

Importing the package registers its modules in the ``mmunireplk`` registry
scope; it does not import mmdet, mmseg or mmpretrain.
"""
from . import engine, models, utils  # noqa: F401
from .registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from .version import __version__, version_info

__all__ = [
    'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', '__version__', 'version_info'
]
