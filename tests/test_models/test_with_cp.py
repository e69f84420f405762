# Copyright (c) mmunireplk contributors. All rights reserved.
"""Activation checkpointing changes nothing but memory: same outputs,
gradients and BN running statistics as the plain training step."""
import copy

import pytest
import torch
import torch._inductor.config as inductor_config

from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers.unireplk_layers import keep_bn_statistics
from tests.helpers import randomize_bn_and_scales


def _step(model, x):
    torch.manual_seed(0)  # the same drop-path masks in both models
    loss = sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum()
               for o in model(x))
    loss.backward()
    return loss.detach()


@pytest.mark.parametrize('momentum', [0.1, None])
def test_with_cp_step_equals_plain_step(momentum):
    torch.manual_seed(0)
    plain = UniRepLKNet('atto', drop_path_rate=0.2)
    randomize_bn_and_scales(plain)
    for m in plain.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = momentum
    ckpt = copy.deepcopy(plain)
    for block in ckpt.modules():
        if hasattr(block, 'with_cp'):
            block.with_cp = True
    plain.train()
    ckpt.train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    assert torch.allclose(_step(plain, x), _step(ckpt, x), rtol=1e-5)
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-7), name
    for (name, a), b in zip(plain.named_buffers(), ckpt.buffers()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-5), name


def test_keep_bn_statistics_restores_everything():
    bn = torch.nn.BatchNorm2d(3, momentum=None)
    bn.train()
    before = copy.deepcopy(bn.state_dict())
    with keep_bn_statistics(bn):
        out = bn(torch.randn(4, 3, 5, 5) * 3 + 1)
    assert out.std() > 0.5  # normalised with the batch statistics
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert bn.momentum is None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_compiled_with_cp_step_equals_eager_plain_step(monkeypatch):
    """``torch.compile`` of a ``with_cp`` backbone trains: outputs,
    gradients and BN statistics (updated once) equal the eager plain step
    within fp32 rounding, drop path included."""
    # inductor draws the drop-path masks from torch's eager generator, so
    # that the two steps drop the same samples
    monkeypatch.setattr(inductor_config, 'fallback_random', True)
    arch = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32),
                kernel_sizes=((3, ), (13, ), (13, 3), (7, )))
    torch.manual_seed(0)
    plain = UniRepLKNet(arch, drop_path_rate=0.3)
    randomize_bn_and_scales(plain)
    ckpt = UniRepLKNet(arch, drop_path_rate=0.3, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    plain.train()
    ckpt.train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    # static shapes: inductor of torch 2.12 fails on symbolic strides of
    # channels-last conv inputs, with or without with_cp
    torch._dynamo.reset()
    compiled = torch.compile(ckpt, dynamic=False)
    assert torch.allclose(_step(plain, x), _step(compiled, x), rtol=1e-5)
    scale = max(p.grad.abs().max() for p in plain.parameters())
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4,
                              atol=1e-5 * scale), name
    for (name, a), b in zip(plain.named_buffers(), ckpt.buffers()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4,
                              atol=1e-6), name
