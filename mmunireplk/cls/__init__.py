# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmpretrain parts: the reference classifier head and the hook that
accepts public ImageNet files (imports mmpretrain)."""
from .heads import UniRepLKNetClsHead
from .hooks import ImageNetCheckpointHook

__all__ = ['ImageNetCheckpointHook', 'UniRepLKNetClsHead']
