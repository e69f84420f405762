# Copyright (c) mmunireplk contributors. All rights reserved.
"""Inference on images, and models by name from the model index.

``import mmunireplk.apis`` imports no codebase; each of mmdet, mmseg and
mmpretrain is imported when a model of its task is built. Pictures of
predictions and the own-image demo are tools (``tools/visualization.py``,
``tools/image_demo.py``).
"""
from .inference import (ImagePredictor, get_task, load_config,
                        resolve_dataset_meta)
from .model_index import default_model_index, find_model, load_model_index

__all__ = [
    'ImagePredictor', 'default_model_index', 'find_model', 'get_task',
    'load_config', 'load_model_index', 'resolve_dataset_meta'
]
