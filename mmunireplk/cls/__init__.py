# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmpretrain-side parts: the reference classifier head and the hook that
accepts public ImageNet files.

Imported by classification configs (``custom_imports``); importing it
imports mmpretrain.
"""
from .heads import UniRepLKNetClsHead
from .hooks import ImageNetCheckpointHook

__all__ = ['ImageNetCheckpointHook', 'UniRepLKNetClsHead']
