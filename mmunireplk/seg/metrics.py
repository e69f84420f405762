# Copyright (c) mmunireplk contributors. All rights reserved.
"""IoU metric whose results also carry the per-class IoU and accuracy."""
import math
from typing import Dict, List

from mmseg.evaluation.metrics import IoUMetric

from mmunireplk.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` (``iou_metrics=['mIoU']`` only) whose results,
    plain floats in percent, also hold ``per_class = {name: {'IoU', 'Acc'}}``
    (None for classes absent from labels and predictions)."""

    def __init__(self, iou_metrics: List[str] = ['mIoU'], **kwargs) -> None:
        if list(iou_metrics) != ['mIoU']:
            raise ValueError(f'{type(self).__name__} computes mIoU only, got '
                             f'iou_metrics={iou_metrics}')
        super().__init__(iou_metrics=['mIoU'], **kwargs)

    def compute_metrics(self, results: list) -> Dict[str, object]:
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        # mmseg gives numpy float32 scalars; plain floats serialise to JSON
        metrics = {k: round(float(v), 2) for k, v in metrics.items()}
        intersect, union, _, label = (sum(r) for r in zip(*results))
        per_class = {}
        for name, i, u, n in zip(self.dataset_meta['classes'],
                                 intersect.tolist(), union.tolist(),
                                 label.tolist()):
            per_class[name] = dict(
                IoU=_percent(i, u), Acc=_percent(i, n))
        metrics['per_class'] = per_class
        return metrics


def _percent(numerator: float, denominator: float):
    """``100 * a / b`` rounded to 2 decimals, None where undefined."""
    if denominator == 0 or math.isnan(denominator):
        return None
    return round(100. * numerator / denominator, 2)
