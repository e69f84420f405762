# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmsegmentation-specific parts: checked label loading, per-class IoU
metric, the ADE20K-layout demo data and the mmseg 0.x checkpoint converter.

Import it (``custom_imports=dict(imports=['mmunireplk', 'mmunireplk.seg'])``)
to register ``mmunireplk.LoadCheckedAnnotations`` and
``mmunireplk.PerClassIoUMetric``. It imports mmseg, never mmdet.
"""
try:
    import mmseg  # noqa: F401
except ImportError as e:  # pragma: no cover
    raise ImportError('mmunireplk.seg needs mmsegmentation 1.x: pip install '
                      '"mmsegmentation>=1.2.2,<1.3.0" ftfy regex') from e

from .convert import convert_mmseg0x_checkpoint
from .demo_data import DEMO_CLASSES, DEMO_PALETTE, generate_ade20k_demo
from .metrics import PerClassIoUMetric
from .transforms import LoadCheckedAnnotations

__all__ = [
    'DEMO_CLASSES', 'DEMO_PALETTE', 'LoadCheckedAnnotations',
    'PerClassIoUMetric', 'convert_mmseg0x_checkpoint', 'generate_ade20k_demo'
]
