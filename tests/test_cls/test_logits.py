# Copyright (c) mmunireplk contributors. All rights reserved.
"""The mmpretrain classifier built from our configs computes exactly the
reference classifier on public-layout weights, before and after
re-parameterisation."""
import pytest
import torch
from mmengine.config import Config

from mmunireplk.checkpoint.imagenet import convert_imagenet_checkpoint
from .conftest import (build_classifier, config_path, make_public_checkpoint,
                       reference_logits, relative_error)

ARCHS = {
    'atto': ('unireplknet-a_32xb128_in1k.py', (2, 2, 6, 2)),
    'tiny': ('unireplknet-t_32xb128_in1k.py', (3, 3, 18, 3)),
}


@pytest.mark.parametrize('arch', list(ARCHS))
def test_logits_match_reference(arch, mmpretrain_scope):
    config, depths = ARCHS[arch]
    public = make_public_checkpoint(arch, num_classes=1000, seed=1)
    cfg = Config.fromfile(config_path(config))
    model = build_classifier(cfg)
    converted = convert_imagenet_checkpoint(public)
    model.load_state_dict(converted['state_dict'], strict=True)
    model.eval()

    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference_logits(
            {k: v.double() if v.is_floating_point() else v
             for k, v in public.items()}, x.double(), depths)
        logits = model(x, mode='tensor')
        # the backbone really matters: a trivial network would also match
        assert expected.std() > 0.1
        assert relative_error(logits, expected) <= 1e-5

        model.backbone.switch_to_deploy()
        assert not any('origin_bn' in k for k in model.state_dict())
        deployed = model(x, mode='tensor')
    assert relative_error(deployed, expected) <= 1e-5
    # predictions through the test pipeline API agree with the logits
    with torch.no_grad():
        samples = model(x, mode='predict')
    scores = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(
        scores, expected.softmax(-1).float(), rtol=0, atol=1e-5)


def test_deploy_config_builds_deploy_backbone(mmpretrain_scope):
    cfg = Config.fromfile(config_path('unireplknet-t_32xb128_in1k.py'))
    cfg.merge_from_dict({'model.backbone.deploy': True})
    model = build_classifier(cfg, device='meta')
    keys = model.state_dict().keys()
    assert 'backbone.stages.2.0.dwconv.lk_origin.bias' in keys
    assert not any('origin_bn' in k or k.endswith('pwconv2.2.weight')
                   for k in keys)
    assert {'head.norm.weight', 'head.head.weight'} <= set(keys)
    assert not any(k.startswith('backbone.norm') for k in keys)


def test_head_init_scale(mmpretrain_scope):
    from mmunireplk.cls import UniRepLKNetClsHead
    torch.manual_seed(0)
    heads = [
        UniRepLKNetClsHead(num_classes=100, in_channels=64,
                           head_init_scale=s) for s in (1.0, 1e-3)
    ]
    stds = []
    for head in heads:
        head.init_weights()
        stds.append(float(head.head.weight.std()))
        assert torch.all(head.head.bias == 0)
        assert torch.all(head.norm.weight == 1)
    assert 0.015 < stds[0] < 0.025  # trunc_normal(std .02)
    assert stds[1] == pytest.approx(stds[0] * 1e-3, rel=0.2)
    with pytest.raises(ValueError, match='expects'):
        heads[0](torch.randn(2, 32, 3, 3))
    with pytest.raises(ValueError, match='head_init_scale'):
        UniRepLKNetClsHead(10, 64, head_init_scale=0)
