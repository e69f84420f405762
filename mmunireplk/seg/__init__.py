# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmseg parts: checked label loading and the per-class IoU metric
(``custom_imports=dict(imports=['mmunireplk', 'mmunireplk.seg'])``)."""
try:
    import mmseg  # noqa: F401
except ImportError as e:  # pragma: no cover
    raise ImportError('mmunireplk.seg needs mmsegmentation 1.x: pip install '
                      '"mmsegmentation>=1.2.2,<1.3.0" ftfy regex') from e

from .metrics import PerClassIoUMetric
from .transforms import LoadCheckedAnnotations

__all__ = ['LoadCheckedAnnotations', 'PerClassIoUMetric']
