# Copyright (c) mmunireplk contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmunireplk.models.layers import (DRB_BRANCHES, GRN, DilatedReparamBlock,
                                      UniRepLKNetBlock,
                                      dilated_to_dense_kernel)

from tests.helpers import randomize_bn_and_scales


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize('kernel_size', [5, 7, 9, 11, 13, 15, 17])
def test_drb_reparam_equivalence(kernel_size):
    torch.manual_seed(kernel_size)
    block = DilatedReparamBlock(8, kernel_size)
    expected = {f'dil_conv_k{k}_{r}' for k, r in zip(*DRB_BRANCHES[kernel_size])}
    assert expected <= {name for name, _ in block.named_children()}
    randomize_bn_and_scales(block, seed=kernel_size)
    block.eval()
    x = torch.randn(2, 8, 23, 19)
    with torch.no_grad():
        before = block(x)
        block.reparameterize()
        after = block(x)
    assert block.deploy
    assert set(block.state_dict()) == {'lk_origin.weight', 'lk_origin.bias'}
    assert rel_err(after, before) < 1e-5
    # Idempotent.
    block.reparameterize()
    with torch.no_grad():
        assert torch.equal(block(x), after)


@pytest.mark.parametrize('kernel_size', [1, 3, 4, 6, 19])
def test_drb_rejects_unsupported_kernel(kernel_size):
    with pytest.raises(ValueError, match='K >= 5'):
        DilatedReparamBlock(8, kernel_size)


@pytest.mark.parametrize('kernel_size', [1, 4, 19, 21])
def test_block_rejects_unsupported_kernel(kernel_size):
    with pytest.raises(ValueError, match='kernel sizes'):
        UniRepLKNetBlock(8, kernel_size)


@pytest.mark.parametrize('k,r', [(3, 2), (3, 5), (5, 3), (9, 2)])
def test_dilated_to_dense_kernel_matches_dilated_conv(k, r):
    weight = torch.randn(4, 1, k, k)
    x = torch.randn(1, 4, 30, 30)
    pad = (r * (k - 1) + 1) // 2
    dilated = F.conv2d(x, weight, padding=pad, dilation=r, groups=4)
    dense = F.conv2d(x, dilated_to_dense_kernel(weight, r), padding=pad,
                     groups=4)
    assert torch.allclose(dilated, dense, atol=1e-5)


def test_grn_formula():
    grn = GRN(6)
    with torch.no_grad():
        grn.gamma.uniform_(-1, 1)
        grn.beta.uniform_(-1, 1)
    x = torch.randn(2, 5, 7, 6)
    gx = x.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
    expected = grn.gamma * (x * nx) + grn.beta + x
    assert torch.allclose(grn(x), expected, atol=1e-6)
    assert grn.gamma.shape == grn.beta.shape == (1, 1, 1, 6)


def test_grn_half_precision_does_not_overflow():
    """The sum of squares over a 64x64 map of values ~300 exceeds fp16's
    range (65504); GRN must still give finite, fp32-accurate results."""
    grn = GRN(8)
    with torch.no_grad():
        grn.gamma.uniform_(-1, 1)
        grn.beta.uniform_(-1, 1)
    x = 300 * torch.rand(2, 64, 64, 8) + 1
    expected = grn(x)
    out = grn.half()(x.half())
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    assert torch.allclose(out.float(), expected, rtol=2e-3, atol=1e-2)


@pytest.mark.parametrize('kernel_size', [3, 5, 7, 13])
@pytest.mark.parametrize('layer_scale', [1e-6, None])
def test_block_reparam_equivalence(kernel_size, layer_scale):
    torch.manual_seed(0)
    block = UniRepLKNetBlock(16, kernel_size, layer_scale_init_value=layer_scale)
    randomize_bn_and_scales(block)
    block.eval()
    x = torch.randn(2, 16, 15, 17)
    with torch.no_grad():
        before = block(x)
        block.reparameterize()
        after = block(x)
    assert rel_err(after, before) < 1e-5
    deploy = UniRepLKNetBlock(16, kernel_size, deploy=True)
    assert set(block.state_dict()) == set(deploy.state_dict())
    deploy.load_state_dict(block.state_dict(), strict=True)
    deploy.eval()
    with torch.no_grad():
        assert torch.allclose(deploy(x), after)


def test_reparam_builds_tensors_on_the_weights_device():
    """Nothing may be created on the CPU behind the weights' back: on the
    meta device every new tensor must stay on meta, in float64 stay float64.
    """
    block = UniRepLKNetBlock(8, 13).to('meta')
    block.reparameterize()
    assert {p.device.type for p in block.parameters()} == {'meta'}
    block = UniRepLKNetBlock(8, 3).double()
    block.eval()
    x = torch.randn(1, 8, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        before = block(x)
        block.reparameterize()
        assert {p.dtype for p in block.parameters()} == {torch.float64}
        assert torch.allclose(block(x), before, rtol=1e-10, atol=1e-12)
