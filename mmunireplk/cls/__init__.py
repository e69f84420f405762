# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmpretrain-side parts: the reference classifier head, the hook that
accepts public ImageNet files, and the classification demo data.

Imported by classification configs (``custom_imports``); importing it
imports mmpretrain.
"""
from .demo_data import (DEMO_CLASSES, demo_data_complete,
                        generate_demo_imagenet)
from .heads import UniRepLKNetClsHead
from .hooks import ImageNetCheckpointHook

__all__ = [
    'DEMO_CLASSES', 'ImageNetCheckpointHook', 'UniRepLKNetClsHead',
    'demo_data_complete', 'generate_demo_imagenet'
]
