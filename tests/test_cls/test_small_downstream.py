# Copyright (c) mmunireplk contributors. All rights reserved.
"""Cascade Mask R-CNN 3x and UPerNet 160k configs of A/F/P/N: recipe
choices, layer-decay depth, and a CPU forward of each."""
import pytest
import torch
from mmengine.config import Config

from mmunireplk.utils import sync_bn_to_bn
from .conftest import HF, config_path

SMALL = {  # arch, dims[0], ImageNet file, num_layers, det drop path
    'a': ('atto', 40, 'unireplknet_a_in1k_224_acc77.03.pth', 5, 0.1),
    'f': ('femto', 48, 'unireplknet_f_in1k_224_acc78.58.pth', 5, 0.1),
    'p': ('pico', 64, 'unireplknet_p_in1k_224_acc80.23.pth', 5, 0.2),
    'n': ('nano', 80, 'unireplknet_n_in1k_224_acc81.64.pth', 6, 0.2),
}
DET = 'cascade-mask-rcnn_unireplknet-{}_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
SEG = 'upernet_unireplknet-{}_8xb2-160k_ade20k-512x512.py'


def build(cfg: Config):
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    sync_bn_to_bn(model_cfg)
    model_cfg.backbone.init_cfg = None
    return MODELS.build(model_cfg)


def max_layer_id(model, num_layers: int) -> int:
    ids = [
        model.backbone.get_layer_depth(name, num_layers=num_layers)[0]
        for name, _ in model.named_parameters()
        if name.startswith('backbone.stages.2.')
    ]
    return max(ids)


@pytest.mark.parametrize('name', list(SMALL))
def test_small_detector(name):
    import mmdet  # noqa: F401
    from mmdet.testing import demo_mm_inputs

    arch, dim, ckpt, num_layers, dpr = SMALL[name]
    cfg = Config.fromfile(config_path(DET.format(name)))
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.drop_path_rate) == (arch, dpr)
    assert backbone.init_cfg.checkpoint == HF + ckpt
    assert backbone.with_cp is True
    assert cfg.model.neck.in_channels == [dim, dim * 2, dim * 4, dim * 8]
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        num_layers=num_layers, decay_rate=0.8, decay_type='layer_wise')
    assert cfg.train_cfg.max_epochs == 36

    torch.manual_seed(0)
    model = build(cfg)
    model.init_weights()
    # stage 3's last block has the id right below stage 4's
    assert max_layer_id(model, num_layers) == num_layers - 1
    packed = demo_mm_inputs(1, [[3, 64, 64]], num_items=[2], with_mask=True,
                            num_classes=80)
    data = model.data_preprocessor(packed, True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k and
                torch.is_tensor(v))
    assert torch.isfinite(total)
    model.eval()
    with torch.no_grad():
        result = model.predict(data['inputs'], data['data_samples'])
    assert 'masks' in result[0].pred_instances


@pytest.mark.parametrize('name', list(SMALL))
def test_small_segmentor(name):
    import mmseg  # noqa: F401

    import mmunireplk.seg  # noqa: F401
    arch, dim, ckpt, num_layers, _ = SMALL[name]
    cfg = Config.fromfile(config_path(SEG.format(name)))
    backbone = cfg.model.backbone
    assert backbone.arch == arch and backbone.drop_path_rate == 0.1
    assert backbone.init_cfg.checkpoint == HF + ckpt
    assert cfg.model.decode_head.in_channels == [dim, dim * 2, dim * 4,
                                                 dim * 8]
    assert cfg.model.auxiliary_head.in_channels == dim * 4
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        num_layers=num_layers, decay_rate=1.0, decay_type='layer_wise')
    assert cfg.train_cfg.max_iters == 160000

    torch.manual_seed(0)
    model = build(cfg)
    model.init_weights()
    assert max_layer_id(model, num_layers) == num_layers - 1
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        logits = model(x, mode='tensor')
    assert logits.shape == (1, 150, 16, 16)
    assert torch.isfinite(logits).all()
