# Copyright (c) mmunireplk contributors. All rights reserved.
"""Complexity analysis (params / FLOPs) of models built from configs."""
from .builder import build_model_from_config
from .complexity import (FLOP_CONVENTIONS, count_flops, count_params,
                         dummy_forward, get_complexity, module_flops)

__all__ = [
    'FLOP_CONVENTIONS', 'build_model_from_config', 'count_flops',
    'count_params', 'dummy_forward', 'get_complexity', 'module_flops'
]
