# Copyright (c) mmunireplk contributors. All rights reserved.
"""Inference on images, and models by name from the model index (mmdet,
mmseg and mmpretrain are imported when a model of their task is built)."""
from .inference import (ImagePredictor, get_task, load_config,
                        resolve_dataset_meta)
from .model_index import default_model_index, find_model, load_model_index

__all__ = [
    'ImagePredictor', 'default_model_index', 'find_model', 'get_task',
    'load_config', 'load_model_index', 'resolve_dataset_meta'
]
