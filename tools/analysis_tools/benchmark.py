# Copyright (c) mmunireplk contributors. All rights reserved.
"""Building blocks of the backbone benchmarks (CPU and CUDA).

A module of ``tools/analysis_tools/`` (imported by the scripts beside it,
e.g. ``benchmark_backbone.py`` and ``gpu_check.py``): the benchmarked
models, MAC counting, interleaved timing, peak memory of a step and the
matmul peak.
"""
import platform
import re
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn

from mmunireplk.deploy import (attach_cpu_kernels, kernel_available,
                               prepare_for_inference)
from mmunireplk.models.backbones import UniRepLKNet

# a module beside this one (tools/analysis_tools/ is on sys.path)
from complexity import count_flops, hooked_forward, module_flops

# Peers of matching size: mmpretrain ConvNeXt arch, Swin (embed, depths,
# heads).
PEERS = {
    # not published models: peers of the atto size for quick (dry) runs
    'atto': ('atto', (40, (2, 2, 6, 2), (1, 2, 4, 8))),
    'tiny': ('tiny', (96, (2, 2, 6, 2), (3, 6, 12, 24))),
    'small': ('small', (96, (2, 2, 18, 2), (3, 6, 12, 24))),
    'base': ('base', (128, (2, 2, 18, 2), (4, 8, 16, 32))),
    'large': ('large', (192, (2, 2, 18, 2), (6, 12, 24, 48))),
}
UNIREPLKNET_NAMES = ('unireplknet', 'unireplknet-deploy',
                     'unireplknet-deploy-plain')
# Models that ``--compile`` adds: torch.compile (inductor, freezing) of ...
COMPILED_NAMES = ('unireplknet-deploy-compiled', 'convnext-compiled')
# ISA extensions that decide which CPU kernels run.
ISA_FLAGS = ('sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw',
             'avx512vl', 'avx512_vnni', 'avx512_bf16', 'amx_tile',
             'amx_bf16')


def machine_info() -> dict:
    """CPU model, ISA flags, torch / oneDNN / MKL versions of this run."""
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        with open('/proc/cpuinfo') as f:
            text = f.read()
        cpu = re.search(r'^model name\s*:\s*(.+)$', text, re.M).group(1)
        present = set(re.search(r'^flags\s*:\s*(.+)$', text,
                                re.M).group(1).split())
        flags = [f for f in ISA_FLAGS if f in present]
    except (OSError, AttributeError):
        pass
    config = torch.__config__.show()

    def version(pattern: str):
        found = re.search(pattern, config)
        return found.group(1) if found else None

    return dict(
        cpu=cpu,
        isa_flags=flags,
        torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
        torch=torch.__version__,
        onednn=version(r'MKL-DNN v([\d.]+)'),
        mkl=version(r'Math Kernel Library Version ([\w.]+)'),
        blas=version(r'BLAS_INFO=(\w+)'))


def parse_case(text: str) -> Tuple[int, int, int]:
    """``'224x224x32'`` -> (224, 224, 32)."""
    try:
        h, w, n = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'a case is HxWxBATCH, e.g. 224x224x1; got {text!r}')
    if min(h, w, n) <= 0:
        raise ValueError(f'case sizes must be positive, got {text!r}')
    return h, w, n


def build_benchmark_model(name: str,
                          arch: str,
                          with_cp: bool = False) -> nn.Module:
    """Build one benchmarked backbone (random weights).

    ``<name>-compiled`` is ``<name>`` compiled with ``torch.compile``
    (inductor, ``freezing`` on); UniRepLKNet through
    :func:`mmunireplk.deploy.prepare_for_inference`. Compilation happens on
    the first call. ``unireplknet-deploy`` runs the CPU kernels of
    :mod:`mmunireplk.deploy` (for float32 CPU inference),
    ``unireplknet-deploy-plain`` its modules one by one.
    """
    if name in COMPILED_NAMES:
        if name.startswith('unireplknet'):
            # the plain deploy form: the CPU kernels run eagerly only
            model = build_benchmark_model('unireplknet-deploy-plain', arch)
            return prepare_for_inference(model, compile=True)
        model = build_benchmark_model(name[:-len('-compiled')], arch)
        model.eval()
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
        model.compile(dynamic=False)  # as ours: one compilation per size
        return model
    if name in UNIREPLKNET_NAMES:
        model = UniRepLKNet(arch, with_cp=with_cp)
        if name != 'unireplknet':
            model.switch_to_deploy()
        if name == 'unireplknet-deploy':
            attach_cpu_kernels(model)
        return model
    if arch not in PEERS:
        raise ValueError(f'no peer of size {arch!r}; peers exist for '
                         f'{sorted(PEERS)}')
    convnext_arch, (embed, depths, heads) = PEERS[arch]
    if name == 'convnext':
        from mmpretrain.models.backbones import ConvNeXt
        return ConvNeXt(
            arch=convnext_arch,
            out_indices=(0, 1, 2, 3),
            gap_before_final_norm=False,
            with_cp=with_cp)
    if name == 'swin':
        try:
            from mmdet.models.backbones import SwinTransformer
        except ImportError:
            from mmseg.models.backbones import SwinTransformer
        return SwinTransformer(
            embed_dims=embed,
            depths=depths,
            num_heads=heads,
            window_size=7,
            out_indices=(0, 1, 2, 3),
            with_cp=with_cp)
    raise ValueError(f'unknown model {name!r}; choose from '
                     f'{list(MODEL_NAMES)}')


MODEL_NAMES: List[str] = [
    *UNIREPLKNET_NAMES, 'convnext', 'swin', *COMPILED_NAMES
]


def forward_macs(model: nn.Module, name: str, h: int, w: int) -> int:
    """Multiply-accumulates of one forward on a 3 x h x w image."""
    x = torch.randn(1, 3, h, w, device=next(model.parameters()).device)
    model.eval()
    macs, _ = count_flops(model, lambda: model(x))
    if name == 'swin':
        macs += swin_attention_macs(model, h, w)
    return macs


def swin_attention_macs(model: nn.Module, h: int, w: int) -> int:
    """Attention matmuls of Swin (functional, not seen by module hooks)."""
    total, h, w = 0, -(-h // 4), -(-w // 4)
    window = 7
    for i, stage in enumerate(model.stages):
        dim = model.num_features[i] if hasattr(model, 'num_features') else \
            stage.blocks[0].attn.w_msa.embed_dims
        hp, wp = -(-h // window) * window, -(-w // window) * window
        # q @ k^T and attn @ v: 2 * tokens * window^2 * dim per block.
        total += len(stage.blocks) * 2 * hp * wp * window * window * dim
        h, w = -(-h // 2), -(-w // 2)
    return total


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_rounds(runners: Dict[str, Callable[[], None]], rounds: int,
                warmup: int, device: str) -> Dict[str, float]:
    """Best seconds per call of each runner, timed in interleaved rounds."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    best = {name: float('inf') for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def peak_memory_mib(step: Callable[[], None], device: str) -> float:
    """Peak memory allocated by tensors during one call of ``step``, in MiB.

    CUDA: ``torch.cuda.max_memory_allocated`` above the memory held before.
    CPU: replays, in time order, every CPU allocation and free that
    ``torch.profiler`` records (temporaries inside an op included, like
    the CUDA figure) and takes the running maximum.
    """
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        step()
    # the raw records: building the profiler's event tree would cost
    # seconds per 10^5 records
    deltas = sorted((e.start_ns(), e.nbytes())
                    for e in p.profiler.kineto_results.events()
                    if e.name() == '[memory]'
                    and e.device_type() == DeviceType.CPU)
    current = peak = 0
    for _, delta in deltas:
        current += delta
        peak = max(peak, current)
    return peak / 2**20


def matmul_peak(device: str, size: int = 2048) -> Dict[str, float]:
    """fp32 matmul GFLOP/s: ``torch.mm`` and, on CPU, oneDNN if present."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    runners = {'torch.mm': lambda: torch.mm(a, b)}
    if device == 'cpu' and kernel_available('linear', 'onednn_packed'):
        runners['oneDNN'] = lambda: torch.ops.mkldnn._linear_pointwise(
            a, b, None, 'none', [], '')
    best = time_rounds(runners, rounds=3, warmup=1, device=device)
    return {k: 2 * size**3 / t / 1e9 for k, t in best.items()}


# Op classes of :func:`op_class_profile`: the first class with a key that
# is part of a profiler event's op name wins.
OP_CLASSES = (
    ('matmul', ('linear', 'mm', 'matmul')),
    ('conv', ('conv', )),
    ('norm', ('layer_norm', 'batch_norm')),
    ('reduction', ('sum', 'mean', 'norm')),
    ('copy / layout', ('copy', 'contiguous', 'clone', 'cat', 'empty')),
    ('element-wise', ('mul', 'add', 'pow', 'gelu', 'sigmoid', 'relu', 'div',
                      'sqrt', 'softmax', 'roll', 'pad', 'fill', 'where')),
)


def op_class(op_name: str) -> str:
    """The op class of a profiler event name (``'other'`` if unknown)."""
    name = op_name.split('::')[-1].lower()
    for cls, keys in OP_CLASSES:
        if any(key in name for key in keys):
            return cls
    return 'other'


def module_macs_by_class(model: nn.Module, x: torch.Tensor) -> Dict[str, int]:
    """Multiply-accumulates of one forward of the linear layers
    (``matmul``) and of the convolutions, dense and depthwise (``conv``),
    counted by :func:`module_flops`."""
    totals: Dict[str, int] = {'matmul': 0, 'conv': 0}

    def hook(module, inputs, output):
        cls = 'matmul' if isinstance(module, nn.Linear) else 'conv'
        totals[cls] += module_flops(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        with hooked_forward(model):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return totals


def op_class_profile(model: nn.Module,
                     x: torch.Tensor,
                     runs: int = 3,
                     train: bool = False) -> Dict[str, dict]:
    """Self CPU time per op class of ``model(x)`` under ``torch.profiler``,
    or of a forward+backward step in train mode if ``train``.

    Returns:
        dict: op class -> ``ms`` (per call) and ``share`` (of the profiled
        total), plus ``gmacs`` and ``gflops_per_s`` for the matmul and
        convolution classes (MACs from :func:`module_macs_by_class`).
    """
    from torch.profiler import ProfilerActivity, profile

    def step():
        if not train:
            with torch.no_grad():
                return model(x)
        model.train()
        sum(o.float().mean() for o in model(x)).backward()
        model.zero_grad(set_to_none=True)

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            step()
    model.eval()
    totals: Dict[str, float] = {}
    for event in prof.key_averages():
        if event.key.startswith(('##', 'Torch-Compiled', 'TorchDynamo')):
            cls = 'compiled kernels' if event.key.startswith('##') else \
                'other'
        else:
            cls = op_class(event.key)
        totals[cls] = totals.get(cls, 0.) + event.self_cpu_time_total
    total = sum(totals.values())
    macs = module_macs_by_class(model, x)
    rows = {}
    for cls, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        ms = us / 1000 / runs
        row = dict(ms=ms, share=us / total)
        if cls in macs:  # forward+backward: 3x the forward MACs
            row['gmacs'] = macs[cls] * (3 if train else 1) / 1e9
            row['gflops_per_s'] = 2 * row['gmacs'] / (ms / 1000) \
                if ms else 0.
        rows[cls] = row
    return rows
