# Copyright (c) mmunireplk contributors. All rights reserved.
"""Training form on CPU: the depthwise convs of a DilatedReparamBlock run in
the memory layout measured fastest for forward+backward, with the same
outputs, gradients and BN statistics as the module-by-module forward."""
import copy
from unittest import mock

import pytest
import torch

from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers import DilatedReparamBlock, unireplk_layers
from mmunireplk.models.layers.cpu_inference import (KERNEL_CANDIDATES,
                                                    KERNELS,
                                                    cpu_kernel_choices,
                                                    cpu_kernel_override)
from tests.test_perf.utils import rel_err


def _module_by_module():
    """The forward as before the measured layouts (each conv module
    called on the block input)."""
    return mock.patch.object(
        unireplk_layers, 'use_cpu_training_kernels', return_value=False)


@pytest.mark.parametrize('name', KERNEL_CANDIDATES['depthwise_conv_train'])
@pytest.mark.parametrize('channels_last', [False, True])
def test_layouts_give_the_same_training_step(name, channels_last):
    torch.manual_seed(0)
    block = DilatedReparamBlock(16, 13).train()
    reference = copy.deepcopy(block)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 16, 11, 9).contiguous(memory_format=fmt)
    grad = torch.randn(2, 16, 11, 9)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    KERNELS.used.clear()
    with cpu_kernel_override(depthwise_conv_train=name):
        out = block(x1)
    out.backward(grad)
    # the large kernel and its five dilated branches
    assert KERNELS.used['depthwise_conv_train', name] == 6
    with _module_by_module():
        expected = reference(x2)
    expected.backward(grad)
    assert out.is_contiguous(memory_format=fmt)
    assert rel_err(out, expected) < 1e-5
    assert rel_err(x1.grad, x2.grad) < 1e-5
    for (key, p), q in zip(block.named_parameters(), reference.parameters()):
        assert rel_err(p.grad, q.grad) < 1e-5, key
    for (key, b), c in zip(block.named_buffers(), reference.buffers()):
        assert torch.allclose(b.float(), c.float(), rtol=1e-5), key


def test_chosen_by_measurement_only_under_autograd():
    torch.manual_seed(1)
    model = UniRepLKNet('atto', out_indices=(0, 1, 2, 3)).train()
    reference = copy.deepcopy(model)
    x = torch.randn(2, 3, 64, 64)
    KERNELS.used.clear()
    with torch.no_grad():
        model.eval()(x)
    assert sum(n for (op, _), n in KERNELS.used.items()
               if op == 'depthwise_conv_train') == 0
    model.train()
    outs = model(x)
    sum(o.mean() for o in outs).backward()
    used = sum(n for (op, _), n in KERNELS.used.items()
               if op == 'depthwise_conv_train')
    # every DRB (kernel 13 in stages 2-4 of atto) runs six convs
    drbs = sum(isinstance(m, DilatedReparamBlock) for m in model.modules())
    assert drbs > 0 and used == 6 * drbs
    decided = [c for c in cpu_kernel_choices()
               if c['op'] == 'depthwise_conv_train']
    assert decided and all(
        set(c['seconds']) == {'nchw', 'channels_last'} for c in decided)
    with _module_by_module():
        expected = reference(x)
    sum(o.mean() for o in expected).backward()
    for a, b in zip(outs, expected):
        assert rel_err(a, b) < 1e-5
    # some gradients are exactly zero in maths (zero-initialised layer
    # scales) and only rounding noise here: compare against the largest
    scale = max(q.grad.abs().max() for q in reference.parameters())
    for (key, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(
            p.grad, q.grad, rtol=1e-4, atol=1e-5 * scale), key
