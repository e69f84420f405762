# Copyright (c) mmunireplk contributors. All rights reserved.
"""RoI features of the detector are computed from correctly laid-out maps."""
import torch
from mmengine.config import Config

from mmunireplk.utils import sync_bn_to_bn
from tests.helpers import load_tool
from .conftest import DEMO_CONFIG

import mmdet  # noqa: E402,F401  (installed by tools/install.sh)


def test_roi_features_match_contiguous_maps(mmdet_scope):
    """mmcv's RoIAlign indexes raw NCHW memory: fed FPN maps with another
    memory layout it returns scrambled features (this made the demo detector
    unable to learn). The RoI features of backbone + FPN must equal those of
    explicitly contiguous copies of the same maps."""
    from mmdet.registry import MODELS

    gpu_check = load_tool('tools/analysis_tools/gpu_check.py')
    LAYOUT_CHECK_ROIS = gpu_check.LAYOUT_CHECK_ROIS
    roi_features_by_layout = gpu_check.roi_features_by_layout
    cfg = Config.fromfile(DEMO_CONFIG)
    sync_bn_to_bn(cfg.model)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    features = roi_features_by_layout(model, torch.randn(2, 3, 96, 128),
                                      torch.tensor(LAYOUT_CHECK_ROIS))
    expected, actual = features['contiguous'], features['as_given']
    assert expected.abs().max() > 0
    torch.testing.assert_close(actual, expected)
