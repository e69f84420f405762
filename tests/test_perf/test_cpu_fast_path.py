# Copyright (c) mmunireplk contributors. All rights reserved.
"""The fast CPU path of deploy blocks: same outputs, used when it applies."""
import copy

import pytest
import torch

from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers import UniRepLKNetBlock, cpu_fast_path
from mmunireplk.models.layers import cpu_inference
from tests.helpers import randomize_bn_and_scales
from tests.test_perf.utils import rel_err


def _deploy_pair(dim: int, kernel_size: int, seed: int = 0):
    torch.manual_seed(seed)
    block = UniRepLKNetBlock(dim, kernel_size)
    randomize_bn_and_scales(block, seed)
    block.eval()
    deploy = copy.deepcopy(block)
    deploy.reparameterize()
    return block, deploy


def _linear_calls(block: UniRepLKNetBlock, x: torch.Tensor) -> int:
    """How often the block's first Linear module is called for ``x``."""
    calls = []
    handle = block.pwconv1[1].register_forward_hook(
        lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            block(x)
    finally:
        handle.remove()
    return len(calls)


@pytest.mark.parametrize('kernel_size', [3, 13])
@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('channels_last', [False, True])
def test_fast_path_matches_training_form(kernel_size, batch, channels_last):
    block, deploy = _deploy_pair(16, kernel_size, seed=kernel_size + batch)
    x = torch.randn(batch, 16, 11, 14)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = block(x)
        fast = deploy(x)
        with cpu_fast_path(False):
            plain = deploy(x)
    assert _linear_calls(deploy, x) == 0  # the fast path really ran
    with cpu_fast_path(False):
        assert _linear_calls(deploy, x) == 1
    assert fast.shape == expected.shape
    assert fast.is_contiguous()
    assert rel_err(fast, expected) < 1e-5
    assert rel_err(fast, plain) < 1e-5


def test_fast_path_without_onednn(monkeypatch):
    """The F.linear fallback gives the same result."""
    _, deploy = _deploy_pair(8, 13)
    x = torch.randn(2, 8, 9, 10)
    with torch.no_grad():
        with_onednn = deploy(x)
        monkeypatch.setattr(cpu_inference, '_ONEDNN_LINEAR', False)
        without = deploy(x)
    assert rel_err(without, with_onednn) < 1e-5


def test_fast_path_not_used_with_autograd():
    """Gradients of a deploy model flow: the non-differentiable path is
    skipped when parameters or inputs require grad."""
    _, deploy = _deploy_pair(8, 13)
    x = torch.randn(1, 8, 9, 10)
    out = deploy(x)
    assert out.grad_fn is not None
    out.sum().backward()
    assert deploy.pwconv1[1].weight.grad is not None
    for p in deploy.parameters():
        p.requires_grad_(False)
    x.requires_grad_(True)
    deploy(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert _linear_calls(deploy, torch.randn(1, 8, 9, 10)) == 0


def test_fast_path_only_for_float32_cpu():
    x = torch.randn(1, 4, 5, 5)
    assert cpu_inference.use_cpu_fast_path(x)
    assert not cpu_inference.use_cpu_fast_path(x.double())
    assert not cpu_inference.use_cpu_fast_path(x.to('meta'))
    with cpu_fast_path(False):
        assert not cpu_inference.use_cpu_fast_path(x)
    assert cpu_inference.use_cpu_fast_path(x)


def test_deploy_backbone_equals_training_form():
    torch.manual_seed(0)
    model = UniRepLKNet('atto', out_indices=(0, 1, 2, 3))
    randomize_bn_and_scales(model)
    model.eval()
    deploy = copy.deepcopy(model).switch_to_deploy()
    x = torch.randn(2, 3, 72, 88)
    with torch.inference_mode():
        expected = model(x)
        got = deploy(x)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert rel_err(a, b) < 1e-5
