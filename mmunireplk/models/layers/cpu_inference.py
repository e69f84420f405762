# Copyright (c) mmunireplk contributors. All rights reserved.
"""Fast CPU inference of the re-parameterised (deploy) form.

The deploy block computes ``x + W2 (g * GELU(W1 (s * dw(x)) + b1)) + b2``
where ``s`` is the SE scale (per sample and channel) and ``g = gamma * Nx + 1``
the GRN scale (per sample and hidden channel). The module-by-module forward
spends much of its time outside the two matrix products (permute copies,
separate SE / GRN / GELU passes, weight re-layouts on every call). This path
computes the same maths with fewer passes over memory:

* blocks keep the residual stream in channels-last memory, so the two
  products read and write it directly and the residual add is fused into
  the second one; the SE scale is applied while going to NHWC (one pass);
* GELU is fused into the first product (oneDNN) or applied in place;
* the GRN sum of squares and scaling work in reusable scratch buffers;
* the products and the dense stem / downsampling convolutions can run on
  weights packed once (re-packed when the weights change), instead of
  re-laid out per call.

Under ``torch.compile`` a deploy block is one call of the custom op
``mmunireplk::deploy_block_cpu``, which runs this same path (with its kernel
choices), and inductor compiles the layers around the blocks.

Where several exact implementations compete and the winner depends on the
CPU (oneDNN or ATen/BLAS products, NCHW or channels-last depthwise
convolution, packed or plain dense convolution, one sample at a time or the
whole batch), :data:`KERNELS` times the candidates once per shape class in the
running process and keeps the fastest; :func:`cpu_kernel_choices` lists what
was chosen and :func:`cpu_kernel_override` fixes a choice. Every candidate
computes the same float32 maths, so outputs equal the module-by-module
forward to fp32 rounding whatever is chosen.
"""
import math
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import (Callable, Dict, Iterator, List, NamedTuple, Optional,
                    Tuple)

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from .functional import grn_scale_from_squares, se_gate

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


class KernelChooser:
    """Chooses among interchangeable exact implementations by timing them.

    A decision is keyed by an op name, the torch thread count and a shape
    class; it is measured once (one untimed call of every candidate, which
    also settles nested decisions, then up to ``rounds`` interleaved timed
    calls, fewer once ``max_seconds`` have passed) and reused for the rest of
    the process.

    Args:
        rounds (int): Timed calls per candidate. Defaults to 3.
        max_seconds (float): Time after which no further round starts.
            Defaults to 0.5.
    """

    def __init__(self, rounds: int = 3, max_seconds: float = 0.5) -> None:
        self.rounds = rounds
        self.max_seconds = max_seconds
        self._choices: Dict[tuple, str] = {}
        self._seconds: Dict[tuple, Dict[str, float]] = {}
        self._overrides: Dict[str, str] = {}
        #: How often each (op, candidate) was chosen.
        self.used: Counter = Counter()

    def choose(self, op: str, shape_class: tuple,
               candidates: Dict[str, Callable[[], object]]) -> str:
        """The name of the candidate to use for ``op`` on ``shape_class``."""
        name = self._overrides.get(op)
        if name not in candidates:
            name = self._decide(op, shape_class, candidates)
        self.used[op, name] += 1
        return name

    def _decide(self, op: str, shape_class: tuple,
                candidates: Dict[str, Callable[[], object]]) -> str:
        if len(candidates) == 1:
            return next(iter(candidates))
        key = (op, torch.get_num_threads()) + tuple(shape_class)
        if key not in self._choices:
            seconds = self._measure(candidates)
            self._seconds[key] = seconds
            self._choices[key] = min(seconds, key=seconds.get)
        return self._choices[key]

    def _measure(
            self, candidates: Dict[str,
                                   Callable[[], object]]) -> Dict[str, float]:
        for run in candidates.values():
            run()
        best = {name: math.inf for name in candidates}
        deadline = time.perf_counter() + self.max_seconds
        for _ in range(self.rounds):
            for name, run in candidates.items():
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
            if time.perf_counter() > deadline:
                break
        return best

    def choices(self) -> List[dict]:
        """Every decision made so far, with the measured seconds."""
        return [
            dict(
                op=key[0],
                threads=key[1],
                shape_class=list(key[2:]),
                choice=choice,
                seconds=self._seconds[key]) for key, choice in
            self._choices.items()
        ]

    def reset(self) -> None:
        """Forget every decision and usage count."""
        self._choices.clear()
        self._seconds.clear()
        self.used.clear()

    @contextmanager
    def override(self, **choices: str) -> Iterator[None]:
        """Use the given candidate per op (e.g. ``linear='aten'``) inside a
        ``with`` block; ops whose candidates lack that name still choose."""
        previous = dict(self._overrides)
        self._overrides.update(choices)
        try:
            yield
        finally:
            self._overrides = previous


#: The process-wide chooser of the fast path.
KERNELS = KernelChooser()

#: Candidate names per op, as :func:`cpu_kernel_override` accepts them.
KERNEL_CANDIDATES: Dict[str, Tuple[str, ...]] = {
    'linear': ('aten', 'onednn_packed', 'mkl_packed'),
    'depthwise_conv': ('nchw', 'channels_last'),
    'dense_conv': ('aten', 'onednn_packed'),
    'block_batching': ('per_sample', 'batched'),
}


def cpu_kernel_choices() -> List[dict]:
    """The kernel choices the fast CPU path has measured and made."""
    return KERNELS.choices()


def cpu_kernel_override(**choices: str):
    """Context manager fixing kernel choices, e.g.
    ``cpu_kernel_override(linear='aten', block_batching='batched')``."""
    for op, name in choices.items():
        if name not in KERNEL_CANDIDATES.get(op, ()):
            raise ValueError(f'unknown CPU kernel {op}={name!r}; choose from '
                             f'{KERNEL_CANDIDATES}')
    return KERNELS.override(**choices)


class _Workspace(threading.local):
    """Scratch buffers of the fast path, one per role and thread, grown to
    the largest size asked for and then reused: large temporaries freshly
    mapped on every call spend much of their time in page faults."""

    def __init__(self) -> None:
        self.buffers: Dict[str, Tensor] = {}

    def get(self, role: str, shape: Tuple[int, ...]) -> Tensor:
        numel = math.prod(shape)
        buffer = self.buffers.get(role)
        if buffer is None or buffer.numel() < numel:
            # a normal tensor even under inference_mode, so that it can be
            # written in place outside it too
            with torch.inference_mode(False):
                buffer = torch.empty(numel)
            self.buffers[role] = buffer
        return buffer[:numel].view(shape)


_WORKSPACE = _Workspace()


def release_cpu_workspace() -> None:
    """Free the scratch buffers the fast path keeps (this thread's)."""
    _WORKSPACE.buffers.clear()


def _size_class(value: int) -> int:
    """``value`` rounded up to a power of two (bounds the shape classes)."""
    return 1 << max(int(value) - 1, 0).bit_length()


def _probe(run: Callable[[], Tensor], expected: Tensor) -> bool:
    try:
        return bool(torch.allclose(run(), expected))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


_AVAILABLE: Dict[str, bool] = {}


def linear_kernel_available(name: str) -> bool:
    """Whether the linear kernel ``name`` runs in this torch build (cached):
    ``'aten'`` always; ``'onednn_packed'`` needs oneDNN's fused linear,
    ``'mkl_packed'`` MKL's packed GEMM."""
    if name not in _AVAILABLE:
        x, w, b = torch.ones(2, 3), torch.ones(4, 3), torch.ones(4)
        expected = torch.full((2, 4), 4.)
        probes = {
            'aten': lambda: F.linear(x, w, b),
            'onednn_packed': lambda: torch.ops.mkldnn._linear_pointwise.
            binary(x, expected - 4, _pack_onednn(w, 2), b, 'add'),
            'mkl_packed': lambda: torch.ops.mkl._mkl_linear(
                x, _pack_mkl(w, 2), w, b, 2),
        }
        _AVAILABLE[name] = _probe(probes[name], expected)
    return _AVAILABLE[name]


def _pack_onednn(weight: Tensor, batch: int) -> Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight, batch)


def _pack_mkl(weight: Tensor, batch: int) -> Tensor:
    return torch.ops.mkl._mkl_reorder_linear_weight(weight, batch)


# Weights packed for oneDNN / MKL: weight tensor -> {kind: (key, packed)}.
_PACKED = WeakIdKeyDictionary()


def release_packed_weights() -> None:
    """Drop every packed weight copy (they are made again when needed)."""
    _PACKED.clear()


def _weight_key(weight: Tensor) -> tuple:
    try:
        version = weight._version
    except RuntimeError:  # inference tensors have no version counter
        version = -1
    return weight.data_ptr(), version, tuple(weight.shape)


def packed_weight(weight: Tensor, kind: str,
                  pack: Callable[[Tensor], Tensor]) -> Tensor:
    """``pack(weight)``, cached per weight tensor and kind and packed again
    when the tensor is modified in place (e.g. by ``load_state_dict``).
    Writes through ``weight.data`` bypass the version counter that detects
    this: call :func:`release_packed_weights` after them."""
    key = _weight_key(weight)
    packs = _PACKED.setdefault(weight, {})
    cached = packs.get(kind)
    if cached is None or cached[0] != key:
        cached = (key, pack(weight.detach()))
        packs[kind] = cached
    return cached[1]


def linear_cpu(x: Tensor,
               weight: Tensor,
               bias: Tensor,
               gelu: bool = False,
               residual: Optional[Tensor] = None,
               role: Optional[str] = None) -> Tensor:
    """``x @ weight.T + bias`` (then exact GELU, or plus ``residual``) on a
    2-D CPU tensor, with the fastest kernel for this shape class: ATen's
    BLAS (``'aten'``), oneDNN with a packed weight and the GELU / residual
    add fused (``'onednn_packed'``) or MKL's packed GEMM (``'mkl_packed'``).

    ``role`` names a workspace buffer that may hold the result (the caller
    must be done with it before the next call with the same role); without
    it the result is a new tensor.
    """
    m = x.shape[0]

    def aten() -> Tensor:
        shape = (m, weight.shape[0])
        out = x.new_empty(shape) if role is None else _WORKSPACE.get(
            role, shape)
        if residual is not None:
            torch.addmm(residual, x, weight.t(), out=out)
            return out.add_(bias)
        torch.addmm(bias, x, weight.t(), out=out)
        return torch._C._nn.gelu_(out) if gelu else out

    def onednn_packed() -> Tensor:
        packed = packed_weight(weight, 'onednn',
                               lambda w: _pack_onednn(w, m))
        if residual is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(
                x, residual, packed, bias, 'add')
        return torch.ops.mkldnn._linear_pointwise(
            x, packed, bias, 'gelu' if gelu else 'none', [],
            'none' if gelu else '')

    def mkl_packed() -> Tensor:
        packed = packed_weight(weight, 'mkl', lambda w: _pack_mkl(w, m))
        out = torch.ops.mkl._mkl_linear(x, packed, weight, bias, m)
        if residual is not None:
            return out.add_(residual)
        return torch._C._nn.gelu_(out) if gelu else out

    candidates = {
        name: run
        for name, run in (('aten', aten), ('onednn_packed', onednn_packed),
                          ('mkl_packed', mkl_packed))
        if linear_kernel_available(name)
    }
    name = KERNELS.choose(
        'linear',
        (_size_class(m), x.shape[1], weight.shape[0], gelu, residual
         is not None), candidates)
    return candidates[name]()


def depthwise_conv_cpu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """A stride-1 'same' depthwise conv (odd kernel, with bias) on NCHW or
    channels-last memory, whichever is faster for this shape class (the
    output keeps the layout used)."""
    n, c, h, w = x.shape
    k = weight.shape[-1]

    def conv(memory_format: torch.memory_format) -> Tensor:
        return F.conv2d(
            x.contiguous(memory_format=memory_format),
            weight,
            bias,
            padding=k // 2,
            groups=c)

    candidates = {
        'nchw': lambda: conv(torch.contiguous_format),
        'channels_last': lambda: conv(torch.channels_last),
    }
    name = KERNELS.choose('depthwise_conv', (c, k, _size_class(h * w), n),
                          candidates)
    return candidates[name]()


def _conv_onednn_packed(conv: nn.Conv2d, x: Tensor) -> Tensor:
    x = x.contiguous(memory_format=torch.channels_last)
    packed = packed_weight(
        conv.weight, 'onednn',
        lambda w: torch.ops.mkldnn._reorder_convolution_weight(
            w, list(conv.padding), list(conv.stride), list(conv.dilation),
            conv.groups, list(x.shape)))
    return torch.ops.mkldnn._convolution_pointwise(
        x, packed, conv.bias, list(conv.padding),
        list(conv.stride), list(conv.dilation), conv.groups, 'none', [], '')


def conv2d_cpu(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """A dense conv with ATen's kernel or with a packed oneDNN weight
    (channels-last), whichever is faster for this shape class."""
    candidates: Dict[str, Callable[[], Tensor]] = {'aten': lambda: conv(x)}
    if torch.backends.mkldnn.is_available() and \
            conv.padding_mode == 'zeros' and \
            not isinstance(conv.padding, str):
        candidates['onednn_packed'] = lambda: _conv_onednn_packed(conv, x)
    n, _, h, w = x.shape
    name = KERNELS.choose('dense_conv',
                          (conv.in_channels, conv.out_channels,
                           conv.kernel_size[0], conv.stride[0],
                           _size_class(h * w), n), candidates)
    return candidates[name]()


def _no_autograd_cpu_float(x: Tensor, params: Tuple[Tensor, ...]) -> bool:
    if not _FAST_PATH_ENABLED:
        return False
    if x.device.type != 'cpu' or x.dtype != torch.float32 or x.dim() != 4:
        return False
    return not (torch.is_grad_enabled() and
                (x.requires_grad or any(p.requires_grad for p in params)))


def use_cpu_fast_path(x: Tensor, *params: Tensor) -> bool:
    """Whether the eager fast deploy path applies to ``x`` (and ``params``).

    It needs a 4-D float32 CPU tensor, no autograd (neither ``x`` nor any of
    ``params`` requiring grad while grad mode is on), no tracing / export /
    ``torch.compile`` (the oneDNN calls are neither differentiable nor
    exportable; under ``torch.compile`` see :func:`use_compiled_cpu_block`),
    and not to be disabled by :func:`cpu_fast_path`.
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    if torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return False
    return _no_autograd_cpu_float(x, params)


def use_compiled_cpu_block(x: Tensor, *params: Tensor) -> bool:
    """Whether a deploy block traced by ``torch.compile`` becomes one call
    of the ``mmunireplk::deploy_block_cpu`` op (the fast path, opaque to
    inductor): the conditions of :func:`use_cpu_fast_path`, but while
    compiling, and not while exporting (``torch.export`` graphs keep
    standard ops)."""
    if not torch.compiler.is_compiling() or _exporting():
        return False
    return _no_autograd_cpu_float(x, params)


def _exporting() -> bool:
    is_exporting = getattr(torch.compiler, 'is_exporting', None)  # >= 2.6
    return bool(is_exporting is not None and is_exporting())


def downsample_forward_cpu(layers: nn.Sequential, x: Tensor) -> Tensor:
    """A stem / downsampling ``nn.Sequential`` with its convs on
    :func:`conv2d_cpu`."""
    for layer in layers:
        x = conv2d_cpu(layer, x) if type(layer) is nn.Conv2d else layer(x)
    return x


class DeployBlockWeights(NamedTuple):
    """The tensors of a deploy-form block, in the order of the
    ``mmunireplk::deploy_block_cpu`` op's arguments."""
    dw_weight: Tensor
    dw_bias: Tensor
    se_down_weight: Tensor
    se_down_bias: Tensor
    se_up_weight: Tensor
    se_up_bias: Tensor
    fc1_weight: Tensor
    fc1_bias: Tensor
    grn_gamma: Tensor
    fc2_weight: Tensor
    fc2_bias: Tensor


def deploy_block_weights(block: nn.Module) -> DeployBlockWeights:
    """The weights of a deploy-form :class:`UniRepLKNetBlock`."""
    conv = getattr(block.dwconv, 'lk_origin', block.dwconv)
    se, fc1, fc2 = block.se, block.pwconv1[1], block.pwconv2[0]
    return DeployBlockWeights(conv.weight, conv.bias, se.down.weight,
                              se.down.bias, se.up.weight, se.up.bias,
                              fc1.weight, fc1.bias, block.act[1].gamma,
                              fc2.weight, fc2.bias)


def deploy_block_forward_cpu(block: nn.Module, x: Tensor) -> Tensor:
    """Forward of a deploy-form :class:`UniRepLKNetBlock` on CPU.

    The block works on channels-last memory (the 1x1 projections then read
    and write it directly, and the residual add fuses into the second one);
    a batch runs as one or sample by sample (image-sized temporaries that
    stay in cache), whichever is faster for the shape class.

    Args:
        block (UniRepLKNetBlock): A block in deploy form.
        x (Tensor): Input of shape (N, C, H, W), float32, on CPU, any
            memory format.

    Returns:
        Tensor: The block output, shape (N, C, H, W) in channels-last
        memory.
    """
    return deploy_block_forward_tensors(x, deploy_block_weights(block))


def deploy_block_forward_tensors(x: Tensor,
                                 weights: DeployBlockWeights) -> Tensor:
    """:func:`deploy_block_forward_cpu` on the block's tensors."""
    x = x.contiguous(memory_format=torch.channels_last)
    if x.shape[0] == 1:
        return _forward(x, weights)
    candidates = {
        'batched':
        lambda: _forward(x, weights),
        'per_sample':
        lambda: torch.cat([
            _forward(x[i:i + 1], weights) for i in range(x.shape[0])
        ]).contiguous(memory_format=torch.channels_last),
    }
    n, c, h, w = x.shape
    name = KERNELS.choose(
        'block_batching',
        (c, weights.dw_weight.shape[-1], _size_class(h * w), _size_class(n)),
        candidates)
    return candidates[name]()


def _forward(x: Tensor, weights: DeployBlockWeights) -> Tensor:
    """The deploy block on a channels-last ``x`` (N, C, H, W)."""
    n, c, h, w = x.shape
    y = depthwise_conv_cpu(x, weights.dw_weight, weights.dw_bias)

    # SE scale, applied while going to NHWC (a transpose if the depthwise
    # conv ran on NCHW memory, else a plain multiply).
    se_scale = se_gate(y, weights.se_down_weight, weights.se_down_bias,
                       weights.se_up_weight,
                       weights.se_up_bias).view(n, 1, 1, c)
    y_nhwc = _WORKSPACE.get('nhwc', (n, h, w, c))
    torch.mul(y.permute(0, 2, 3, 1), se_scale, out=y_nhwc)

    hidden = linear_cpu(
        y_nhwc.view(n * h * w, c),
        weights.fc1_weight,
        weights.fc1_bias,
        gelu=True,
        role='hidden')
    per_sample_hidden = hidden.view(n, h * w, -1)
    squares = _WORKSPACE.get('squares', per_sample_hidden.shape)
    torch.mul(per_sample_hidden, per_sample_hidden, out=squares)
    grn_scale = grn_scale_from_squares(squares.sum(1), weights.grn_gamma)
    per_sample_hidden.mul_(grn_scale[:, None])

    out = linear_cpu(
        hidden,
        weights.fc2_weight,
        weights.fc2_bias,
        residual=x.permute(0, 2, 3, 1).reshape(n * h * w, c))
    return out.view(n, h, w, c).permute(0, 3, 1, 2)


@torch.library.custom_op(
    'mmunireplk::deploy_block_cpu', mutates_args=(), device_types='cpu')
def _deploy_block_op(x: Tensor, dw_weight: Tensor, dw_bias: Tensor,
                     se_down_weight: Tensor, se_down_bias: Tensor,
                     se_up_weight: Tensor, se_up_bias: Tensor,
                     fc1_weight: Tensor, fc1_bias: Tensor, grn_gamma: Tensor,
                     fc2_weight: Tensor, fc2_bias: Tensor) -> Tensor:
    """A deploy block on the fast CPU path, as one op for compiled graphs
    (the arguments of :class:`DeployBlockWeights` after ``x``)."""
    weights = DeployBlockWeights(dw_weight, dw_bias, se_down_weight,
                                 se_down_bias, se_up_weight, se_up_bias,
                                 fc1_weight, fc1_bias, grn_gamma, fc2_weight,
                                 fc2_bias)
    return deploy_block_forward_tensors(x, weights)


@_deploy_block_op.register_fake
def _(x: Tensor, *weights: Tensor) -> Tensor:
    return torch.empty(
        x.shape, dtype=x.dtype, memory_format=torch.channels_last)
