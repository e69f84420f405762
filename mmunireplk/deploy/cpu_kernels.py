# Copyright (c) mmunireplk contributors. All rights reserved.
"""Fused CPU kernels for the deploy form of UniRepLKNet (opt-in).

The same maths as the deploy block with fewer passes over memory: a
channels-last residual stream (the residual add fused into the second
product), the SE gate applied while going to NHWC, GELU fused or in place,
GRN in reusable scratch buffers, weights packed once. A
:class:`KernelChooser` times competing exact implementations once per shape
class. The oneDNN / MKL kernels are private torch operators that a release
may drop: each is probed once per process and left out if it fails.
"""
import logging
import math
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers import (GRN, DeployBlockWeights,
                                      UniRepLKNetBlock)

#: Candidate names per op, as :meth:`CPUKernels.override` accepts them.
KERNEL_CANDIDATES: Dict[str, Tuple[str, ...]] = {
    'linear': ('aten', 'onednn_packed', 'mkl_packed'),
    'depthwise_conv': ('nchw', 'channels_last'),
    'dense_conv': ('aten', 'onednn_packed'),
    'block_batching': ('per_sample', 'batched'),
}


class KernelChooser:
    """Chooses among interchangeable exact implementations by timing them.

    A decision is keyed by op, thread count and shape class, measured once
    (an untimed warm-up call of each candidate, which also settles nested
    decisions, then up to ``rounds`` interleaved timed calls) and reused.

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


def _exporting() -> bool:
    is_exporting = getattr(torch.compiler, 'is_exporting', None)  # >= 2.6
    return bool(is_exporting is not None and is_exporting())


def _size_class(value: int) -> int:
    """``value`` rounded up to a power of two."""
    return 1 << max(int(value) - 1, 0).bit_length()


def _weight_key(weight: Tensor) -> tuple:
    try:
        version = weight._version
    except RuntimeError:  # inference tensors have no version counter
        version = -1
    return weight.data_ptr(), version, tuple(weight.shape)


# --- the private torch kernels, each behind one function -----------------


def _pack_linear_onednn(weight: Tensor, batch: int) -> Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight, batch)


def _linear_onednn(x: Tensor, packed: Tensor, bias: Tensor,
                   gelu: bool) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias,
                                              'gelu' if gelu else 'none', [],
                                              'none' if gelu else '')


def _linear_add_onednn(x: Tensor, residual: Tensor, packed: Tensor,
                       bias: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise.binary(x, residual, packed,
                                                     bias, 'add')


def _pack_linear_mkl(weight: Tensor, batch: int) -> Tensor:
    return torch.ops.mkl._mkl_reorder_linear_weight(weight, batch)


def _linear_mkl(x: Tensor, packed: Tensor, weight: Tensor, bias: Tensor,
                batch: int) -> Tensor:
    return torch.ops.mkl._mkl_linear(x, packed, weight, bias, batch)


def _pack_conv_onednn(conv: nn.Conv2d, input_shape: List[int]) -> Tensor:
    return torch.ops.mkldnn._reorder_convolution_weight(
        conv.weight.detach(), list(conv.padding), list(conv.stride),
        list(conv.dilation), conv.groups, input_shape)


def _conv_onednn(conv: nn.Conv2d, x: Tensor, packed: Tensor) -> Tensor:
    return torch.ops.mkldnn._convolution_pointwise(
        x, packed, conv.bias, list(conv.padding), list(conv.stride),
        list(conv.dilation), conv.groups, 'none', [], '')


def _probe_linear_onednn() -> None:
    x, w, b = torch.ones(2, 3), torch.ones(4, 3), torch.ones(4)
    packed = _pack_linear_onednn(w, 2)
    expected = torch.full((2, 4), 4.)
    _check(_linear_onednn(x, packed, b, gelu=False), expected)
    _check(_linear_onednn(x, packed, b, gelu=True), F.gelu(expected))
    _check(_linear_add_onednn(x, expected, packed, b), 2 * expected)


def _probe_linear_mkl() -> None:
    x, w, b = torch.ones(2, 3), torch.ones(4, 3), torch.ones(4)
    got = _linear_mkl(x, _pack_linear_mkl(w, 2), w, b, 2)
    _check(got, torch.full((2, 4), 4.))


def _probe_conv_onednn() -> None:
    conv = nn.Conv2d(2, 3, 3, 2, 1)
    x = torch.randn(1, 2, 5, 6).contiguous(memory_format=torch.channels_last)
    got = _conv_onednn(conv, x, _pack_conv_onednn(conv, list(x.shape)))
    with torch.no_grad():
        _check(got, conv(x))


def _check(got: Tensor, expected: Tensor) -> None:
    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
        raise RuntimeError('wrong result')


#: The private kernels: (op, candidate) -> (what it is, its probe).
PRIVATE_KERNELS: Dict[Tuple[str, str], Tuple[str, Callable[[], None]]] = {
    ('linear', 'onednn_packed'):
    ('torch.ops.mkldnn._linear_pointwise', _probe_linear_onednn),
    ('linear', 'mkl_packed'): ('torch.ops.mkl._mkl_linear', _probe_linear_mkl),
    ('dense_conv', 'onednn_packed'):
    ('torch.ops.mkldnn._convolution_pointwise', _probe_conv_onednn),
}
_PROBED: Dict[Tuple[str, str], bool] = {}


def kernel_available(op: str, name: str) -> bool:
    """Whether candidate ``name`` of ``op`` runs in this torch build (private
    kernels are probed once per process; a failing one is logged)."""
    if (op, name) not in PRIVATE_KERNELS:
        return name in KERNEL_CANDIDATES[op]
    if (op, name) not in _PROBED:
        kernel, probe = PRIVATE_KERNELS[op, name]
        try:
            with torch.inference_mode():
                probe()
            _PROBED[op, name] = True
        except (AttributeError, RuntimeError, NotImplementedError,
                TypeError) as error:
            _PROBED[op, name] = False
            print_log(
                f'CPU kernels: {kernel} is not usable in torch '
                f'{torch.__version__} ({type(error).__name__}: {error}); '
                f'{op} runs without the {name!r} candidate',
                logger='current',
                level=logging.WARNING)
    return _PROBED[op, name]


class CPUKernels:
    """The state of the CPU kernels attached to a model: the
    :class:`KernelChooser`, per-thread scratch buffers (reused: large
    temporaries mapped afresh on every call spend their time in page faults)
    and packed weight copies (re-packed when a weight changes in place).
    Copies of a model (deepcopy, pickling) get a fresh state.

    Args:
        rounds (int): Timed calls per candidate. Defaults to 3.
        max_seconds (float): Time after which a decision starts no further
            round. Defaults to 0.5.
    """

    def __init__(self, rounds: int = 3, max_seconds: float = 0.5) -> None:
        self.chooser = KernelChooser(rounds, max_seconds)
        self._buffers = threading.local()
        self._packed = WeakIdKeyDictionary()
        self.available = {
            op: tuple(n for n in names if kernel_available(op, n))
            for op, names in KERNEL_CANDIDATES.items()
        }

    def __deepcopy__(self, memo: dict) -> 'CPUKernels':
        return CPUKernels(self.chooser.rounds, self.chooser.max_seconds)

    def __reduce__(self) -> tuple:
        return CPUKernels, (self.chooser.rounds, self.chooser.max_seconds)

    def choices(self) -> List[dict]:
        """The kernel choices measured and made so far."""
        return self.chooser.choices()

    def override(self, **choices: str):
        """Context manager fixing kernel choices, e.g.
        ``kernels.override(linear='aten')`` (for bitwise reproducible runs).

        Raises:
            ValueError: For an unknown op or candidate name.
        """
        for op, name in choices.items():
            if name not in KERNEL_CANDIDATES.get(op, ()):
                raise ValueError(f'unknown CPU kernel {op}={name!r}; choose '
                                 f'from {KERNEL_CANDIDATES}')
        return self.chooser.override(**choices)

    def release(self) -> None:
        """Free this thread's scratch buffers and the packed weights; needed
        after writing weights through ``.data`` (no version bump)."""
        self._buffers.__dict__.clear()
        self._packed.clear()

    @staticmethod
    def applies(x: Tensor, params: Tuple[Tensor, ...]) -> bool:
        """Whether the kernels run: a 4-D float32 CPU input, no autograd, and
        no tracing, scripting, export or compile (the oneDNN calls are
        neither differentiable nor exportable)."""
        if x.device.type != 'cpu' or x.dtype != torch.float32 or \
                x.dim() != 4:
            return False
        if torch.jit.is_tracing() or torch.jit.is_scripting() or \
                torch.onnx.is_in_onnx_export() or \
                torch.compiler.is_compiling() or _exporting():
            return False
        return not (torch.is_grad_enabled() and
                    (x.requires_grad or any(p.requires_grad for p in params)))

    def _buffer(self, role: str, shape: Tuple[int, ...]) -> Tensor:
        numel = math.prod(shape)
        buffer = getattr(self._buffers, role, None)
        if buffer is None or buffer.numel() < numel:
            # a normal tensor even under inference_mode, so that it can be
            # written in place outside it too
            with torch.inference_mode(False):
                buffer = torch.empty(numel)
            setattr(self._buffers, role, buffer)
        return buffer[:numel].view(shape)

    def _packed_weight(self, weight: Tensor, kind: str,
                       pack: Callable[[Tensor], Tensor]) -> Tensor:
        key = _weight_key(weight)
        packs = self._packed.setdefault(weight, {})
        cached = packs.get(kind)
        if cached is None or cached[0] != key:
            cached = (key, pack(weight.detach()))
            packs[kind] = cached
        return cached[1]

    def linear(self,
               x: Tensor,
               weight: Tensor,
               bias: Tensor,
               gelu: bool = False,
               residual: Optional[Tensor] = None,
               role: Optional[str] = None) -> Tensor:
        """``x @ weight.T + bias`` (then GELU, or plus ``residual``) on a
        2-D tensor with the fastest kernel. ``role`` names a scratch buffer
        that may hold the result until the next call with that role."""
        m = x.shape[0]

        def aten() -> Tensor:
            shape = (m, weight.shape[0])
            out = x.new_empty(shape) if role is None else self._buffer(
                role, shape)
            if residual is not None:
                torch.addmm(residual, x, weight.t(), out=out)
                return out.add_(bias)
            torch.addmm(bias, x, weight.t(), out=out)
            return torch.ops.aten.gelu_(out) if gelu else out

        def onednn_packed() -> Tensor:
            packed = self._packed_weight(
                weight, 'onednn', lambda w: _pack_linear_onednn(w, m))
            if residual is not None:
                return _linear_add_onednn(x, residual, packed, bias)
            return _linear_onednn(x, packed, bias, gelu)

        def mkl_packed() -> Tensor:
            packed = self._packed_weight(weight, 'mkl',
                                         lambda w: _pack_linear_mkl(w, m))
            out = _linear_mkl(x, packed, weight, bias, m)
            if residual is not None:
                return out.add_(residual)
            return torch.ops.aten.gelu_(out) if gelu else out

        every = dict(
            aten=aten, onednn_packed=onednn_packed, mkl_packed=mkl_packed)
        candidates = {n: every[n] for n in self.available['linear']}
        name = self.chooser.choose(
            'linear', (_size_class(m), x.shape[1], weight.shape[0], gelu,
                       residual is not None), candidates)
        return candidates[name]()

    def depthwise_conv(self, x: Tensor, weight: Tensor,
                       bias: Tensor) -> Tensor:
        """A stride-1 'same' depthwise conv on NCHW or channels-last
        memory, whichever is faster (the output keeps that layout)."""
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
        name = self.chooser.choose('depthwise_conv',
                                   (c, k, _size_class(h * w), n), candidates)
        return candidates[name]()

    def conv2d(self, conv: nn.Conv2d, x: Tensor) -> Tensor:
        """A dense conv with ATen or a packed oneDNN weight, whichever is
        faster."""

        def onednn_packed() -> Tensor:
            x_cl = x.contiguous(memory_format=torch.channels_last)
            packed = self._packed_weight(
                conv.weight, 'onednn',
                lambda _: _pack_conv_onednn(conv, list(x_cl.shape)))
            return _conv_onednn(conv, x_cl, packed)

        candidates: Dict[str, Callable[[], Tensor]] = {
            'aten': lambda: F.conv2d(x, conv.weight, conv.bias, conv.stride,
                                     conv.padding, conv.dilation,
                                     conv.groups)
        }
        if 'onednn_packed' in self.available['dense_conv'] and \
                conv.padding_mode == 'zeros' and \
                not isinstance(conv.padding, str):
            candidates['onednn_packed'] = onednn_packed
        n, _, h, w = x.shape
        name = self.chooser.choose(
            'dense_conv', (conv.in_channels, conv.out_channels,
                           conv.kernel_size[0], conv.stride[0],
                           _size_class(h * w), n), candidates)
        return candidates[name]()

    def block(self, x: Tensor, weights: DeployBlockWeights) -> Tensor:
        """A deploy block on float32 ``x`` (N, C, H, W); the result is
        channels-last. A batch runs as one or sample by sample (temporaries
        that stay in cache), whichever is faster."""
        x = x.contiguous(memory_format=torch.channels_last)
        if x.shape[0] == 1:
            return self._block(x, weights)
        candidates = {
            'batched':
            lambda: self._block(x, weights),
            'per_sample':
            lambda: torch.cat([
                self._block(x[i:i + 1], weights) for i in range(x.shape[0])
            ]).contiguous(memory_format=torch.channels_last),
        }
        n, c, h, w = x.shape
        name = self.chooser.choose('block_batching',
                                   (c, weights.dw_weight.shape[-1],
                                    _size_class(h * w), _size_class(n)),
                                   candidates)
        return candidates[name]()

    def _block(self, x: Tensor, weights: DeployBlockWeights) -> Tensor:
        """The deploy block on a channels-last ``x``."""
        n, c, h, w = x.shape
        y = self.depthwise_conv(x, weights.dw_weight, weights.dw_bias)

        # SE gate on (N, C), applied while going to NHWC (a transpose if the
        # depthwise conv ran on NCHW memory, else a plain multiply).
        hidden_se = F.relu(
            F.linear(
                y.mean(dim=(2, 3)), weights.se_down_weight.flatten(1),
                weights.se_down_bias))
        se_gate = torch.sigmoid(
            F.linear(hidden_se, weights.se_up_weight.flatten(1),
                     weights.se_up_bias))
        y_nhwc = self._buffer('nhwc', (n, h, w, c))
        torch.mul(y.permute(0, 2, 3, 1), se_gate.view(n, 1, 1, c), out=y_nhwc)

        hidden = self.linear(
            y_nhwc.view(n * h * w, c),
            weights.fc1_weight,
            weights.fc1_bias,
            gelu=True,
            role='hidden')
        per_sample = hidden.view(n, h * w, -1)
        squares = self._buffer('squares', per_sample.shape)
        torch.mul(per_sample, per_sample, out=squares)
        per_sample.mul_(
            GRN.scale_from_squares(squares.sum(1), weights.grn_gamma)[:,
                                                                      None])

        out = self.linear(
            hidden,
            weights.fc2_weight,
            weights.fc2_bias,
            residual=x.permute(0, 2, 3, 1).reshape(n * h * w, c))
        return out.view(n, h, w, c).permute(0, 3, 1, 2)


class KernelBlock(UniRepLKNetBlock):
    """A deploy :class:`UniRepLKNetBlock` whose float32 CPU inference runs
    :meth:`CPUKernels.block`. Made by :func:`attach_cpu_kernels`."""

    cpu_kernels: CPUKernels

    def forward(self, x: Tensor) -> Tensor:
        weights = self.deploy_weights()
        if self.cpu_kernels.applies(x, weights):
            return self.cpu_kernels.block(x, weights)
        return super().forward(x)


class KernelConv2d(nn.Conv2d):
    """A dense stem / downsampling conv whose float32 CPU inference runs
    :meth:`CPUKernels.conv2d`. Made by :func:`attach_cpu_kernels`."""

    cpu_kernels: CPUKernels

    def forward(self, x: Tensor) -> Tensor:
        if self.cpu_kernels.applies(x, (self.weight, )):
            return self.cpu_kernels.conv2d(self, x)
        return super().forward(x)


_KERNEL_CLASSES = {UniRepLKNetBlock: KernelBlock, nn.Conv2d: KernelConv2d}
_PLAIN_CLASSES = {v: k for k, v in _KERNEL_CLASSES.items()}


def _backbones(model: nn.Module) -> List[UniRepLKNet]:
    backbones = [m for m in model.modules() if isinstance(m, UniRepLKNet)]
    if not backbones:
        raise ValueError(f'{type(model).__name__} contains no UniRepLKNet')
    return backbones


def _kernel_modules(backbone: UniRepLKNet) -> Iterator[nn.Module]:
    """The blocks and the dense stem / downsampling convs of a backbone."""
    for stage in backbone.stages:
        yield from stage
    for layers in backbone.downsample_layers:
        yield from layers


def attach_cpu_kernels(model: nn.Module, **kwargs) -> CPUKernels:
    """Run the deploy-form UniRepLKNet(s) in ``model`` on the CPU kernels,
    in place: blocks become :class:`KernelBlock`, dense downsampling convs
    :class:`KernelConv2d` (only the class changes).

    Args:
        model (nn.Module): A model containing deploy-form UniRepLKNets.
        **kwargs: Passed to :class:`CPUKernels`.

    Returns:
        CPUKernels: The state shared by the kernels of this model.

    Raises:
        ValueError: If ``model`` contains no UniRepLKNet, or one in the
            training form.
    """
    backbones = _backbones(model)
    training_form = [b for b in backbones if not b.deploy]
    if training_form:
        raise ValueError('The CPU kernels compute the deploy form: call '
                         'switch_to_deploy() (or prepare_for_inference) '
                         'on the model first')
    kernels = CPUKernels(**kwargs)
    for backbone in backbones:
        for module in _kernel_modules(backbone):
            kernel_class = _KERNEL_CLASSES.get(type(module))
            if kernel_class is not None:
                module.__class__ = kernel_class
            if isinstance(module, (KernelBlock, KernelConv2d)):
                module.cpu_kernels = kernels
    return kernels


def detach_cpu_kernels(model: nn.Module) -> nn.Module:
    """Give the blocks and convs of :func:`attach_cpu_kernels` their plain
    classes back, in place; returns ``model``."""
    for backbone in _backbones(model):
        for module in _kernel_modules(backbone):
            plain = _PLAIN_CLASSES.get(type(module))
            if plain is not None:
                module.__class__ = plain
                del module.cpu_kernels
    return model
