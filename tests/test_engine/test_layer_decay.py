# Copyright (c) mmunireplk contributors. All rights reserved.
import re

import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from mmunireplk.models import UniRepLKNet

BASE_LR, BASE_WD = 1e-4, 0.05


class TinyDetector(nn.Module):
    """A backbone plus a 'neck', like a detector or segmentor."""

    def __init__(self, **backbone_kwargs) -> None:
        super().__init__()
        arch = dict(depths=(1, 1, 7, 1), dims=(8, 16, 32, 64),
                    kernel_sizes=((3, ), (13, ), (13, 3) * 3 + (13, ), (7, )))
        self.backbone = UniRepLKNet(arch=arch, **backbone_kwargs)
        self.neck = nn.Conv2d(64, 8, 1)


def expected_layer_id(name: str, num_layers: int) -> int:
    """The reference rule, spelt out independently of the code."""
    m = re.match(r'backbone\.downsample_layers\.(\d)\.', name)
    if m:
        return {0: 0, 1: 2, 2: 3, 3: num_layers}[int(m.group(1))]
    m = re.match(r'backbone\.stages\.(\d)\.(\d+)\.', name)
    if m:
        stage, block = int(m.group(1)), int(m.group(2))
        return {0: 1, 1: 2, 2: 3 + block // 3, 3: num_layers}[stage]
    return num_layers + 1


def expected_stage_id(name: str, num_layers: int) -> int:
    if name.startswith('backbone.downsample_layers.'):
        return 0
    m = re.match(r'backbone\.stages\.(\d)\.', name)
    return int(m.group(1)) + 1 if m else num_layers + 1


def build(model, decay_type='layer_wise', num_layers=6, decay_rate=0.8):
    cfg = dict(
        optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD,
                       betas=(0.9, 0.999)),
        constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(num_layers=num_layers, decay_rate=decay_rate,
                           decay_type=decay_type))
    return build_optim_wrapper(model, cfg)


@pytest.mark.parametrize('decay_type,rule', [
    ('layer_wise', expected_layer_id),
    ('stage_wise', expected_stage_id),
])
def test_groups_follow_the_reference_rule(decay_type, rule):
    model = TinyDetector()
    num_layers, decay_rate = 6, 0.8
    optim_wrapper = build(model, decay_type, num_layers, decay_rate)
    groups = optim_wrapper.optimizer.param_groups
    group_of = {id(p): g for g in groups for p in g['params']}
    names = dict(model.named_parameters())
    assert len(group_of) == len(names) == sum(len(g['params']) for g in groups)
    seen_ids = set()
    for name, param in names.items():
        group = group_of[id(param)]
        layer_id = rule(name, num_layers)
        seen_ids.add(layer_id)
        assert group['lr'] == pytest.approx(
            BASE_LR * decay_rate**(num_layers + 1 - layer_id)), name
        no_decay = param.ndim == 1 or name.endswith('.bias')
        assert group['weight_decay'] == (0. if no_decay else BASE_WD), name
    # GRN gamma/beta are 4-D and do get weight decay.
    grn = names['backbone.stages.0.0.act.1.gamma']
    assert grn.ndim == 4 and group_of[id(grn)]['weight_decay'] == BASE_WD
    if decay_type == 'layer_wise':
        # Stage-3 blocks 0..6 -> layer ids 3, 4, 5: the rule is exercised.
        assert {3, 4, 5, num_layers, num_layers + 1} <= seen_ids


def test_frozen_parameters_are_skipped():
    model = TinyDetector(frozen_stages=1)
    groups = build(model).optimizer.param_groups
    grouped = {id(p) for g in groups for p in g['params']}
    for name, param in model.named_parameters():
        assert (id(param) in grouped) == param.requires_grad, name
    assert not any(p.requires_grad
                   for p in model.backbone.stages[0].parameters())


def test_unknown_decay_type_and_missing_keys_are_errors():
    with pytest.raises(ValueError, match='decay_type'):
        build(TinyDetector(), decay_type='block_wise')
    cfg = dict(
        optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
        constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(decay_rate=0.9))
    with pytest.raises(KeyError, match='num_layers'):
        build_optim_wrapper(TinyDetector(), cfg)


def test_backbone_without_layer_depth_is_an_error():
    model = nn.Module()
    model.backbone = nn.Conv2d(3, 8, 3)
    with pytest.raises(TypeError, match='get_layer_depth'):
        build(model)
