# Copyright (c) mmunireplk contributors. All rights reserved.
"""RoI features of the detector are computed from correctly laid-out maps."""
import torch
from mmengine.config import Config

from mmunireplk.utils.runtime import sync_bn_to_bn
from .conftest import DEMO_CONFIG

import mmdet  # noqa: E402,F401  (installed by tools/install.sh)


def test_roi_features_match_contiguous_maps(mmdet_scope):
    """mmcv's RoIAlign indexes raw NCHW memory: fed FPN maps with another
    memory layout it returns scrambled features (this made the demo detector
    unable to learn). The RoI features of backbone + FPN must equal those of
    explicitly contiguous copies of the same maps."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    sync_bn_to_bn(cfg.model)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    extractor = model.roi_head.bbox_roi_extractor[0]
    rois = torch.tensor([[0, 4., 6., 40., 50.], [1, 20., 10., 90., 60.],
                         [1, 0., 0., 120., 90.]])
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(2, 3, 96, 128))
        plain = tuple(f.contiguous() for f in feats)
        expected = extractor(plain[:extractor.num_inputs], rois)
        actual = extractor(feats[:extractor.num_inputs], rois)
    assert expected.abs().max() > 0
    torch.testing.assert_close(actual, expected)
