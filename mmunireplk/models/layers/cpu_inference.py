# Copyright (c) mmunireplk contributors. All rights reserved.
"""Fast CPU inference path of the re-parameterised (deploy) block.

The deploy block computes ``x + W2 (g * GELU(W1 (s * dw(x)) + b1)) + b2``
where ``s`` is the SE scale (per sample and channel) and ``g = gamma * Nx + 1``
the GRN scale (per sample and hidden channel). On CPU the plain module-by-
module forward spends most of its time outside the two big matrix products:
NHWC/NCHW permutes, separate SE / GRN multiplications and GELU passes. This
path computes the same maths with fewer memory passes:

* the large depthwise conv runs on a contiguous NCHW tensor (oneDNN's NCHW
  depthwise kernels are several times faster than its channels-last ones for
  13x13 kernels on CPU);
* the SE scale is applied while transposing to NHWC (one pass);
* ``W1`` runs as a oneDNN matmul with GELU fused into it;
* the GRN scale is folded into the columns of ``W2`` per sample;
* the residual is added while transposing back to NCHW (one pass).

oneDNN (``torch.ops.mkldnn._linear_pointwise``) is used for the products when
available, else ``F.linear``; which is faster depends on the CPU (see
docs/speed.md for measurements).
Outputs equal the module-by-module forward to fp32 rounding.
"""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

_ONEDNN_LINEAR: Optional[bool] = None
_FAST_PATH_ENABLED = True


@contextmanager
def cpu_fast_path(enabled: bool) -> Iterator[None]:
    """Enable or disable the fast CPU deploy path inside a ``with`` block.

    Disabling it makes deploy blocks call their submodules one by one (e.g.
    for module hooks such as FLOP counters, or to compare speeds).
    """
    global _FAST_PATH_ENABLED
    previous = _FAST_PATH_ENABLED
    _FAST_PATH_ENABLED = enabled
    try:
        yield
    finally:
        _FAST_PATH_ENABLED = previous


def _onednn_linear_available() -> bool:
    """Whether ``torch.ops.mkldnn._linear_pointwise`` runs here (cached)."""
    global _ONEDNN_LINEAR
    if _ONEDNN_LINEAR is None:
        try:
            x = torch.ones(2, 3)
            w = torch.ones(4, 3)
            out = torch.ops.mkldnn._linear_pointwise(x, w, None, 'none', [],
                                                     '')
            _ONEDNN_LINEAR = bool(torch.all(out == 3))
        except (AttributeError, RuntimeError):
            _ONEDNN_LINEAR = False
    return _ONEDNN_LINEAR


def linear_cpu(x: Tensor,
               weight: Tensor,
               bias: Optional[Tensor],
               gelu: bool = False) -> Tensor:
    """``x @ weight.T + bias`` (then exact GELU) on a 2-D CPU tensor."""
    if _onednn_linear_available():
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias,
                                                  'gelu' if gelu else 'none',
                                                  [], 'none' if gelu else '')
    out = F.linear(x, weight, bias)
    return F.gelu(out) if gelu else out


def use_cpu_fast_path(x: Tensor) -> bool:
    """Whether the fast deploy path applies to ``x``.

    It needs a float32 CPU tensor, no autograd, no tracing / export (the
    oneDNN calls are neither differentiable nor exportable) and not to be
    disabled by :func:`cpu_fast_path`.
    """
    if not _FAST_PATH_ENABLED:
        return False
    if x.device.type != 'cpu' or x.dtype != torch.float32 or x.dim() != 4:
        return False
    if torch.is_grad_enabled() and x.requires_grad:
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    if torch.onnx.is_in_onnx_export():
        return False
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and compiler.is_compiling():
        return False
    return True


def deploy_block_forward_cpu(block, x: Tensor) -> Tensor:
    """Forward of a deploy-form :class:`UniRepLKNetBlock` on CPU.

    Samples are processed one at a time: the temporaries then stay the size
    of one image, which the allocator can reuse; batch-sized temporaries
    measured much slower on CPU (freshly mapped, page-faulted buffers).

    Args:
        block (UniRepLKNetBlock): A block in deploy form.
        x (Tensor): Input of shape (N, C, H, W), float32, on CPU.

    Returns:
        Tensor: The block output, a contiguous NCHW tensor.
    """
    x = x.contiguous()
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        _forward_one(block, x[i:i + 1], out[i:i + 1])
    return out


def _forward_one(block, x: Tensor, out: Tensor) -> None:
    """The block on one sample ``x`` (1, C, H, W); result written to
    ``out``."""
    _, c, h, w = x.shape
    y = block.dwconv(x).contiguous()

    # SE scale, applied while transposing to NHWC.
    se_scale = block.se.channel_weights(y).view(1, 1, 1, c)
    y_nhwc = torch.empty((1, h, w, c), dtype=y.dtype)
    torch.mul(y.permute(0, 2, 3, 1), se_scale, out=y_nhwc)

    fc1, fc2 = block.pwconv1[1], block.pwconv2[0]
    hidden = linear_cpu(y_nhwc.view(h * w, c), fc1.weight, fc1.bias, gelu=True)
    grn_scale = block.act[1].response_scale(hidden[None])  # (1, 4C)

    z = linear_cpu(hidden, fc2.weight * grn_scale, fc2.bias)
    torch.add(x, z.view(1, h, w, c).permute(0, 3, 1, 2), out=out)
