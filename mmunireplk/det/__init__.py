# Copyright (c) mmunireplk contributors. All rights reserved.
"""Detection-specific parts of mmunireplk (used with mmdet 3.x).

Configs import it with ``custom_imports=dict(imports=['mmunireplk',
'mmunireplk.det'])``; ``import mmunireplk`` alone never imports it.
"""
from .demo_data import (DEMO_CLASSES, demo_data_ready, generate_demo_coco,
                        render_demo_image)

__all__ = [
    'DEMO_CLASSES', 'demo_data_ready', 'generate_demo_coco',
    'render_demo_image'
]
