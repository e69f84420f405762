# Copyright (c) mmunireplk contributors. All rights reserved.
"""Label loading with checks that turn bad data into clear errors."""
import os.path as osp
from typing import Optional

import numpy as np
from mmseg.datasets.transforms import LoadAnnotations

from mmunireplk.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` plus checks of the label map, with errors
    naming the files instead of a bare I/O error, a CUDA device assert, a
    shape error in the loss or wrong numbers: a missing file
    (``FileNotFoundError``), a map that is not single-channel of the image's
    ``ori_shape``, or labels outside ``[0, num_classes)`` and
    ``ignore_index`` (``ValueError``).

    Inference inputs (neither ``seg_map_path`` nor ``sample_idx``: mmseg's
    inferencers drop only transforms named ``LoadAnnotations``) pass
    through unchanged.

    Args:
        num_classes (int): Number of classes of the dataset (150 for
            ADE20K). Defaults to None (no value check).
        ignore_index (int): Label ignored by loss and metric. Defaults to 255.
        **kwargs: Arguments of mmseg's ``LoadAnnotations``.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if num_classes is not None and num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got '
                             f'{num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    @staticmethod
    def is_inference_input(results: dict) -> bool:
        """Whether ``results`` is an inferencer's input, not a dataset
        sample."""
        return 'seg_map_path' not in results and 'sample_idx' not in results

    def transform(self, results: dict) -> dict:
        if self.is_inference_input(results):
            return results
        return super().transform(results)

    def _load_seg_map(self, results: dict) -> None:
        seg_path = results.get('seg_map_path')
        img_path = results.get('img_path', '<unknown image>')
        if seg_path is None:
            raise FileNotFoundError(
                f'No label map is given for image {img_path} (seg_map_path '
                'is None); check data_prefix.seg_map_path of the dataset')
        if '://' not in str(seg_path) and not osp.isfile(seg_path):
            raise FileNotFoundError(
                f'Label map {seg_path} of image {img_path} does not exist; '
                'check the dataset layout (data_prefix, seg_map_suffix)')
        super()._load_seg_map(results)
        self._check(results['gt_seg_map'], results, img_path, seg_path)

    def _check(self, seg: np.ndarray, results: dict, img_path: str,
               seg_path: str) -> None:
        if seg.ndim != 2:
            raise ValueError(
                f'Label map {seg_path} must be a single-channel image of '
                f'class indices, got an array of shape {seg.shape}')
        ori_shape = tuple(results.get('ori_shape', seg.shape))[:2]
        if seg.shape != ori_shape:
            raise ValueError(
                f'Image {img_path} is {ori_shape[0]}x{ori_shape[1]} (HxW) '
                f'but its label map {seg_path} is {seg.shape[0]}x'
                f'{seg.shape[1]}; they must have the same size')
        if self.num_classes is None or seg.max(initial=0) < self.num_classes:
            return
        values = np.unique(seg)
        bad = values[(values >= self.num_classes)
                     & (values != self.ignore_index)]
        if bad.size:
            shift = 1 if results.get('reduce_zero_label') else 0
            raise ValueError(
                f'Label map {seg_path} has values {(bad + shift).tolist()} '
                f'outside the {self.num_classes} classes: allowed are '
                f'{shift}..{self.num_classes - 1 + shift} and '
                f'{self.ignore_index} (ignored)' +
                (', and 0 (ignored, reduce_zero_label)' if shift else ''))

    def __repr__(self) -> str:
        return (f'{super().__repr__()[:-1]}, num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
