# Copyright (c) mmunireplk contributors. All rights reserved.
"""Inference on images and pictures of predictions.

``import mmunireplk.apis`` imports no codebase; each of mmdet, mmseg and
mmpretrain is imported when a model of its task is built.
"""
from .image_demo import collect_images, run_image_demo, summary_line
from .inference import (ImagePredictor, get_task, load_config,
                        prediction_to_dict, read_image, resolve_dataset_meta)
from .model_index import find_model, load_model_index
from .visualization import (draw_cls, draw_det, draw_prediction, draw_seg,
                            make_grid, save_prediction_grid)

__all__ = [
    'ImagePredictor', 'collect_images', 'draw_cls', 'draw_det',
    'draw_prediction', 'draw_seg', 'find_model', 'get_task', 'load_config',
    'load_model_index', 'make_grid',
    'prediction_to_dict', 'read_image', 'resolve_dataset_meta',
    'run_image_demo', 'save_prediction_grid', 'summary_line'
]
