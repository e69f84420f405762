# Copyright (c) mmunireplk contributors. All rights reserved.
"""The GPU check of mmunireplk: speed, memory, mixed precision, CUDA ops.

    python tools/analysis_tools/gpu_check.py [--out-dir work_dirs/gpu_check]
    python tools/analysis_tools/gpu_check.py --dry-run   # CPU, tiny shapes

(``tools/analysis_tools/gpu_check.sh`` wraps it with an 8-minute limit.)
Exit status 1 when a check failed or raised.

:func:`run_gpu_check` runs the sections of :data:`SECTIONS` and returns
one JSON-able dict (:data:`SCHEMA_VERSION`); :func:`format_table` prints it
as one table.

- ``preflight``: :func:`launch_utils.check_mmcv_ops` (``tools/``) on the
  device (mmcv's ``nms`` and ``RoIAlign`` run there), as the train / test
  tools call it; its error message names the fix.
- ``backbone``: images/s and peak memory of inference and of a
  forward+backward step (train mode) for UniRepLKNet in the deploy and the
  training form, ConvNeXt and Swin of the same size, in the variants of
  :data:`VARIANTS` (fp32 with TF32 off, TF32, AMP fp16, AMP bf16, AMP fp16
  with channels-last tensors, AMP fp16 with activation checkpointing).
- ``layout``: forward+backward images/s and peak memory of the training
  form of UniRepLKNet with the tensor stream as the model makes it (its
  LayerNorms return channels-last strided NCHW views, which flow through
  the blocks) against NCHW-contiguous block inputs (forward pre-hooks that
  call ``.contiguous()``; the model is not changed); both must give the
  same outputs and gradients.
- ``amp_train``: a few training iterations of the detection and the
  segmentation demo configs with mmengine's ``Runner`` (``AmpOptimWrapper``
  on CUDA: fp16 with dynamic loss scale, and bf16); the losses must be
  finite.
- ``resume``: the detection demo config trained for a few epochs of a few
  iterations through ``tools/train.py``'s config preparation, then trained
  again from its first checkpoint with ``--resume`` (mmengine's
  ``Runner.resume``, which loads onto the device: ``map_location='cuda'``
  on a GPU); the resumed run's losses and final parameters must equal the
  uninterrupted run's (on CUDA within the spread of two uninterrupted runs,
  as its kernels are not deterministic).
- ``deploy_precision``: deploy-form outputs in fp16 / bf16 / TF32 against
  fp32 (largest relative error per output map), and the deploy against the
  training form in fp32.
- ``roi_align``: the RoI features of the demo detector (backbone + FPN +
  mmcv ``RoIAlign`` on the device) equal those of contiguous copies of the
  maps; on CUDA, ``RoIAlign`` and ``nms`` also match their CPU results.

``dry_run=True`` runs the same code on the CPU with tiny shapes and one
iteration (autocast on CPU where torch supports it, else a recorded skip;
in ``amp_train`` fp32 ``OptimWrapper`` for the fp16 runs and a recorded
skip for the bf16 runs: ``AmpOptimWrapper`` asserts a GPU), so that the
tests keep the kit working on machines without a GPU.

Every result carries ``status``: ``ok``, ``failed`` (a check did not
hold), ``error`` (an exception; its message is kept) or ``skipped``
(with ``reason``); ``summary.ok`` is True when nothing failed or raised.
"""
import argparse
import contextlib
import copy
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import shutil
import sys
import time
import traceback
from types import ModuleType
from typing import Callable, Dict, Iterator, List, Optional

import mmcv
import torch
import torch.nn as nn
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.utils import register_all_modules as register_mmdet_modules
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

ANALYSIS_TOOLS = osp.dirname(osp.abspath(__file__))
TOOLS = osp.dirname(ANALYSIS_TOOLS)
_REPO = osp.dirname(TOOLS)
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, _REPO)
# the demo modules of tools/ (this folder is on sys.path as for any script)
if TOOLS not in sys.path:
    sys.path.append(TOOLS)
from mmunireplk.checkpoint import (install_safe_loaders,  # noqa: E402
                                   load_checkpoint_file)
from mmunireplk.models.backbones import UniRepLKNet  # noqa: E402
from mmunireplk.models.layers import UniRepLKNetBlock  # noqa: E402
from mmunireplk.utils import sync_bn_to_bn  # noqa: E402

from benchmark import (build_benchmark_model, forward_macs,  # noqa: E402
                       parse_case, peak_memory_mib, time_rounds)
from complexity import without_cpu_kernels  # noqa: E402
from demo_det import det_demo_spec  # noqa: E402
from demo_seg import seg_demo_spec  # noqa: E402
from demo_utils import ensure_demo_data, point_config_to_data  # noqa: E402
from launch_utils import adapt_to_cpu, check_mmcv_ops, set_amp  # noqa: E402

SCHEMA_VERSION = 2
#: In run order: the correctness checks first, the benchmarks last (a run
#: cut short by a time limit keeps the finished sections; the backbone
#: benchmark turns cuDNN's autotuner on for the rest of the process).
SECTIONS = ('preflight', 'resume', 'amp_train', 'roi_align',
            'deploy_precision', 'layout', 'backbone')

#: Benchmark variants: autocast dtype (None: fp32), TF32 on/off, tensor
#: memory format, activation checkpointing (training only).
VARIANTS: Dict[str, dict] = {
    'fp32': dict(dtype=None, tf32=False),
    'tf32': dict(dtype=None, tf32=True),
    'amp_fp16': dict(dtype=torch.float16, tf32=True),
    'amp_bf16': dict(dtype=torch.bfloat16, tf32=True),
    'amp_fp16_channels_last': dict(
        dtype=torch.float16, tf32=True, channels_last=True),
    'amp_fp16_with_cp': dict(
        dtype=torch.float16, tf32=True, with_cp=True, train_only=True),
}
#: Column titles of the printed table.
VARIANT_LABELS = {
    'fp32': 'fp32', 'tf32': 'tf32', 'amp_fp16': 'amp fp16',
    'amp_bf16': 'amp bf16', 'amp_fp16_channels_last': 'fp16 ch-last',
    'amp_fp16_with_cp': 'fp16 with_cp'
}
INFER_MODELS = ('unireplknet-deploy', 'unireplknet', 'convnext', 'swin')
TRAIN_MODELS = ('unireplknet', 'convnext', 'swin')
#: Largest relative error (max |x - ref| / max |ref| per output map)
#: accepted against fp32.
TOLERANCES = {
    'deploy_vs_training_fp32': 1e-4,
    'tf32': 1e-2,
    'fp16': 1e-2,
    'amp_fp16': 1e-2,
    'amp_fp16_channels_last': 1e-2,
    'amp_bf16': 5e-2,
}
DEMO_CONFIGS = {
    'det': osp.join(_REPO, 'configs', '_demo_',
                    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_'
                    'det-demo.py'),
    'seg': osp.join(_REPO, 'configs', '_demo_',
                    'upernet_unireplknet-a_seg-demo.py'),
}


def check_settings(dry_run: bool) -> dict:
    """Sizes and repetitions: the GPU run (fits in about 8 minutes on one
    H200-class GPU) or the dry run (seconds on a CPU)."""
    if dry_run:
        return dict(
            arch='atto', infer_case='32x32x1', train_case='32x32x2',
            warmup=0, rounds=1, reps=1, train_iters=2, train_batch_size=2,
            # the CPU peak memory (torch.profiler replay) costs seconds per
            # step: measured for these variants only
            memory_variants=['fp32', 'amp_fp16_with_cp'],
            det_data=dict(num_train=2, num_val=1, img_size=(64, 64)),
            seg_data=dict(num_train=2, num_val=1), num_workers=0,
            precision_shape=(1, 3, 64, 64),
            layout_variants=['tf32'],
            # 2 epochs of 1 image (a detector iteration costs seconds on a
            # CPU), resumed after the first; the CPU kernels are
            # deterministic: the runs must agree to rounding
            resume=dict(epochs=2, resume_epoch=1, batch_size=1, images=1,
                        noise_run=False,
                        tolerance=dict(diff_over_moved=1e-5,
                                       loss_rel_diff=1e-5)))
    return dict(
        arch='tiny', infer_case='224x224x64', train_case='224x224x32',
        warmup=3, rounds=3, reps=5, train_iters=20,
        train_batch_size=None,  # the config's
        memory_variants=list(VARIANTS),
        det_data=dict(num_train=40, num_val=1),
        seg_data=dict(num_train=40, num_val=1), num_workers=2,
        precision_shape=(4, 3, 224, 224),
        layout_variants=['tf32', 'amp_bf16', 'amp_fp16'],
        # 3 epochs of 2 iterations (8 images), resumed after the first;
        # the tolerance grows to 3x the spread of two uninterrupted runs
        resume=dict(epochs=3, resume_epoch=1, batch_size=4, images=8,
                    noise_run=True,
                    tolerance=dict(diff_over_moved=1e-3,
                                   loss_rel_diff=1e-4)))


# ----------------------------------------------------------------- helpers


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _error(err: BaseException) -> dict:
    lines = traceback.format_exception_only(type(err), err)
    return dict(status='error', error=''.join(lines).strip()[-2000:])


def _skip(reason: str) -> dict:
    return dict(status='skipped', reason=reason)


def autocast_skip_reason(device: str, dtype: Optional[torch.dtype]
                         ) -> Optional[str]:
    """Why autocast to ``dtype`` cannot run on ``device`` (None: it can),
    probed with a convolution and a linear layer, forward and backward."""
    if dtype is None:
        return None
    if device.startswith('cuda') and dtype == torch.bfloat16 and \
            not torch.cuda.is_bf16_supported():
        return 'this GPU does not support bf16'
    try:
        conv = nn.Conv2d(3, 4, 3).to(device)
        lin = nn.Linear(4, 2).to(device)
        x = torch.randn(1, 3, 8, 8, device=device)
        with torch.autocast(device.split(':')[0], dtype=dtype):
            y = lin(conv(x).mean((2, 3)))
        y.float().sum().backward()
    except Exception as err:  # noqa: BLE001 (recorded as the reason)
        return f'autocast {dtype} on {device} unsupported: {err}'
    return None


@contextlib.contextmanager
def precision(device: str, dtype: Optional[torch.dtype],
              tf32: bool) -> Iterator[None]:
    """Autocast to ``dtype`` (None: fp32) with TF32 matmul/conv on or off;
    the previous TF32 flags are restored."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if dtype is None:
            yield
        else:
            with torch.autocast(device.split(':')[0], dtype=dtype):
                yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = saved


def _peak_mib(step: Callable[[], None], device: str) -> float:
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return peak_memory_mib(step, device)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def environment(device: str, dry_run: bool) -> dict:
    """What ran: versions, device, mmcv's compiled CUDA version."""
    env = dict(
        dry_run=dry_run,
        device=device,
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available() else None,
        cpu=platform.processor() or platform.machine(),
        threads=torch.get_num_threads())
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(device)
        env.update(
            gpu=props.name,
            capability='.'.join(map(str, (props.major, props.minor))),
            gpu_memory_gib=round(props.total_memory / 2**30, 1))
    env.update(mmcv=mmcv.__version__, mmcv_cuda=get_compiling_cuda_version())
    return env


# ---------------------------------------------------------------- backbone


def _input(case: str, device: str, channels_last: bool) -> torch.Tensor:
    h, w, n = parse_case(case)
    x = torch.randn(n, 3, h, w, device=device)
    return x.to(memory_format=torch.channels_last) if channels_last else x


def _timed(run: Callable[[], None], settings: dict, device: str) -> float:
    """Best seconds per call (``reps`` calls per timed round)."""
    reps = settings['reps']

    def repeated():
        for _ in range(reps):
            run()

    best = time_rounds({'run': repeated}, settings['rounds'],
                       settings['warmup'], device)
    return best['run'] / reps


def benchmark_backbones(device: str, settings: dict) -> dict:
    """The ``backbone`` section: one row per variant, model and phase."""
    arch = settings['arch']
    models = {}
    result = dict(arch=arch, infer_case=settings['infer_case'],
                  train_case=settings['train_case'],
                  variants={k: {kk: str(vv) for kk, vv in v.items()}
                            for k, v in VARIANTS.items()},
                  gmacs_per_img={}, rows=[])
    for name in INFER_MODELS:
        models[name] = build_benchmark_model(name, arch).to(device)
        models[name].eval()
        h, w, _ = parse_case(settings['infer_case'])
        result['gmacs_per_img'][name] = forward_macs(models[name], name, h,
                                                     w) / 1e9
    if device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    for variant, spec in VARIANTS.items():
        dtype = spec['dtype']
        reason = autocast_skip_reason(device, dtype)
        phases = [('train', TRAIN_MODELS)]
        if not spec.get('train_only'):
            phases.insert(0, ('infer', INFER_MODELS))
        for phase, names in phases:
            for name in names:
                row = dict(variant=variant, model=name, phase=phase)
                if reason:
                    row.update(_skip(reason))
                else:
                    try:
                        row.update(_bench_one(models, name, phase, variant,
                                              device, settings))
                        # 2 FLOPs per MAC; forward + backward: 3 forwards
                        row['tflops_per_s'] = row['img_per_s'] * 2e-3 * \
                            result['gmacs_per_img'][name] * (
                                3 if phase == 'train' else 1)
                        row['status'] = 'ok'
                    except Exception as err:  # noqa: BLE001
                        row.update(_error(err))
                        if device.startswith('cuda'):
                            torch.cuda.empty_cache()
                result['rows'].append(row)
    return result


def _bench_one(models: Dict[str, nn.Module], name: str, phase: str,
               variant: str, device: str, settings: dict) -> dict:
    spec = VARIANTS[variant]
    dtype, tf32 = spec['dtype'], spec['tf32']
    channels_last = spec.get('channels_last', False)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if phase == 'infer':
        model = models[name].to(memory_format=fmt)
        x = _input(settings['infer_case'], device, channels_last)
        n = x.shape[0]
        # the CPU kernels of the deploy form compute float32: under
        # autocast the modules run
        kernels = without_cpu_kernels(model) if dtype is not None else \
            contextlib.nullcontext()

        def run():
            with torch.inference_mode(), kernels, \
                    precision(device, dtype, tf32):
                model(x)
    else:
        if spec.get('with_cp'):
            model = build_benchmark_model(name, settings['arch'],
                                          with_cp=True).to(device)
            model.load_state_dict(models[name].state_dict())
        else:
            model = models[name]
        model = model.to(memory_format=fmt)
        model.train()
        x = _input(settings['train_case'], device, channels_last)
        n = x.shape[0]

        def run():
            with precision(device, dtype, tf32):
                outs = model(x)
                loss = sum(o.float().mean() for o in outs)
            loss.backward()
            model.zero_grad(set_to_none=True)

    row = {}
    try:
        row['img_per_s'] = n / _timed(run, settings, device)
        if variant in settings['memory_variants']:
            row['peak_mem_mib'] = _peak_mib(run, device)
        else:
            row['peak_mem_mib'] = None
            row['peak_mem_note'] = 'not measured in this run (settings.' \
                'memory_variants)'
    finally:
        model.eval()
        model.to(memory_format=torch.contiguous_format)
    return row


# --------------------------------------------------------------- preflight


def preflight(device: str) -> dict:
    """The ``preflight`` section: the train / test tools' check that mmcv
    has working ``nms`` and ``RoIAlign`` ops for ``device``. Its
    RuntimeError (the message names the fix) is a failed check."""
    tic = time.perf_counter()
    try:
        check_mmcv_ops(device)
    except RuntimeError as err:
        return dict(status='failed', device=device, reason=str(err))
    return dict(status='ok', device=device,
                seconds=time.perf_counter() - tic)


# ------------------------------------------------------------------ layout

#: Streams of the ``layout`` section: the block inputs as the model makes
#: them, and NCHW-contiguous copies.
LAYOUT_STREAMS = ('as_is', 'nchw')
#: Largest relative error of the NCHW stream against the model's own, in
#: fp32 without TF32: outputs, and gradients of the parameters.
LAYOUT_TOLERANCES = dict(outputs=1e-4, grads=1e-3)
#: Smallest gradient scale of the comparison, relative to the largest
#: gradient of the model.
GRAD_FLOOR = 1e-4


def tensor_layout(x: torch.Tensor) -> str:
    """``'nchw'``, ``'channels_last'``, ``'both'`` (e.g. 1x1 maps) or
    ``'other'`` strides of a 4-d tensor."""
    nchw = x.is_contiguous()
    last = x.is_contiguous(memory_format=torch.channels_last)
    return 'both' if nchw and last else 'nchw' if nchw else \
        'channels_last' if last else 'other'


@contextlib.contextmanager
def block_inputs(model: nn.Module, contiguous: bool,
                 layouts: Optional[Dict[str, int]] = None
                 ) -> Iterator[None]:
    """Forward pre-hooks on every UniRepLKNet block: make its input
    NCHW-contiguous if ``contiguous``, and count the layouts of the inputs
    the blocks receive in ``layouts``."""

    def hook(module, args):
        x = args[0].contiguous() if contiguous else args[0]
        if layouts is not None:
            key = tensor_layout(x)
            layouts[key] = layouts.get(key, 0) + 1
        return (x, ) + tuple(args[1:])

    handles = [m.register_forward_pre_hook(hook) for m in model.modules()
               if isinstance(m, UniRepLKNetBlock)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _train_step(model: nn.Module, x: torch.Tensor,
                probes: Optional[List[torch.Tensor]] = None) -> tuple:
    """Forward and backward of a loss on the outputs: their means, or
    their products with fixed ``probes`` (the means of LayerNorm outputs
    have no gradient upstream of the norm, only rounding noise)."""
    outs = model(x)
    if probes is None:
        loss = sum(o.float().mean() for o in outs)
    else:
        loss = sum((o.float() * p).mean() for o, p in zip(outs, probes))
    loss.backward()
    return outs


def _max_rel_err(got: torch.Tensor, ref: torch.Tensor,
                 floor: float = 0.) -> float:
    """max |got - ref| / max(max |ref|, floor)."""
    scale = max(ref.abs().max().item(), floor)
    err = (got.float() - ref.float()).abs().max().item()
    return err / scale if scale > 0 else err


def layout_check(device: str, settings: dict) -> dict:
    """The ``layout`` section (see the module doc)."""
    model = build_benchmark_model('unireplknet', settings['arch']).to(device)
    model.train()
    case = settings['train_case']
    x = _input(case, device, False)
    result = dict(arch=settings['arch'], case=case, form='training',
                  streams=list(LAYOUT_STREAMS),
                  tolerances=LAYOUT_TOLERANCES, rows=[])
    # the same outputs and gradients, fp32 without TF32
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        probes = [torch.randn(o.shape, generator=gen).to(device)
                  for o in model(x)]
    outs, grads, layouts = {}, {}, {}
    for stream in LAYOUT_STREAMS:
        layouts[stream] = {}
        with block_inputs(model, stream == 'nchw', layouts[stream]), \
                precision(device, None, False):
            outs[stream] = [o.detach() for o in _train_step(model, x,
                                                            probes)]
        grads[stream] = {n: p.grad.detach().clone()
                         for n, p in model.named_parameters()
                         if p.grad is not None}
        model.zero_grad(set_to_none=True)
    result['block_input_layouts'] = layouts
    out_err = max(_max_rel_err(a, b)
                  for a, b in zip(outs['nchw'], outs['as_is']))
    # per tensor; gradients that vanish in exact arithmetic (e.g. of a
    # bias followed by a BN) are rounding noise: scaled by at least
    # GRAD_FLOOR of the largest gradient of the model
    floor = GRAD_FLOOR * max(g.abs().max().item()
                             for g in grads['as_is'].values())
    grad_err = max(_max_rel_err(grads['nchw'][n], g, floor)
                   for n, g in grads['as_is'].items())
    same = out_err <= LAYOUT_TOLERANCES['outputs'] and \
        grad_err <= LAYOUT_TOLERANCES['grads'] and \
        set(grads['nchw']) == set(grads['as_is'])
    # the hooks must have changed what the blocks receive
    nchw_only = set(layouts['nchw']) <= {'nchw', 'both'}
    result['comparison'] = dict(
        status='ok' if same and nchw_only else 'failed',
        outputs_max_rel_err=out_err, grads_max_rel_err=grad_err,
        nchw_stream_is_nchw=nchw_only)
    if not nchw_only:
        result['comparison']['reason'] = \
            f'the NCHW stream fed the blocks {layouts["nchw"]}'
    elif not same:
        result['comparison']['reason'] = 'outputs or gradients differ'

    n = x.shape[0]
    for variant in settings['layout_variants']:
        spec = VARIANTS[variant]
        reason = autocast_skip_reason(device, spec['dtype'])
        runs = {}
        for stream in LAYOUT_STREAMS:

            def run(stream=stream):
                with block_inputs(model, stream == 'nchw'), precision(
                        device, spec['dtype'], spec['tf32']):
                    _train_step(model, x)
                model.zero_grad(set_to_none=True)

            runs[stream] = run
        if not reason:
            try:
                best = time_rounds(
                    {k: _repeated(r, settings['reps'])
                     for k, r in runs.items()}, settings['rounds'],
                    settings['warmup'], device)
            except Exception as err:  # noqa: BLE001
                result['rows'] += [dict(variant=variant, model=stream,
                                        phase='train', **_error(err))
                                   for stream in LAYOUT_STREAMS]
                continue
        for stream in LAYOUT_STREAMS:
            # 'model' names the stream: one row schema with the backbone's
            row = dict(variant=variant, model=stream, phase='train')
            if reason:
                row.update(_skip(reason))
            else:
                row.update(
                    img_per_s=n * settings['reps'] / best[stream],
                    peak_mem_mib=_peak_mib(runs[stream], device),
                    status='ok')
            result['rows'].append(row)
        if not reason:
            result.setdefault('nchw_speedup', {})[variant] = \
                best['as_is'] / best['nchw']
    return result


def _repeated(run: Callable[[], None], reps: int) -> Callable[[], None]:

    def repeated():
        for _ in range(reps):
            run()

    return repeated


# --------------------------------------------------------------- amp_train


class LossRecorder(Hook):
    """Collects the logged losses, the loss scale and the time of every
    training iteration, and the iteration the run started at (after a
    resume: the checkpoint's)."""
    priority = 'LOWEST'

    def __init__(self):
        self.iters: List[dict] = []
        self.last = None
        self.start_iter = None

    def before_train(self, runner) -> None:
        self.last = time.perf_counter()
        self.start_iter = runner.iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        now = time.perf_counter()
        values = {k: float(v) for k, v in (outputs or {}).items()}
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is not None:
            values['loss_scale'] = float(scaler.get_scale())
        values['seconds'] = now - self.last
        self.last = now
        self.iters.append(values)


#: ``amp_train`` runs: task and AMP dtype (``tools/train.py --amp``). No
#: bf16 detector: mmcv's RoIAlign has no bf16 kernel, and ``set_amp``
#: refuses that combination.
AMP_RUNS = {
    'det': ('det', 'fp16'),
    'seg': ('seg', 'fp16'),
    'seg_bf16': ('seg', 'bf16'),
}
#: Why the bf16 runs are skipped without CUDA (the fp16 runs then train in
#: fp32, as ``set_amp`` makes them).
BF16_WITHOUT_CUDA = (
    'bf16 AMP needs CUDA (AmpOptimWrapper asserts a GPU); CPU autocast '
    'lowers other ops than CUDA autocast and mmcv has no bf16 CPU nms, so '
    'a CPU stand-in would not show what a GPU does')


def demo_training_config(task: str, data_root: str, settings: dict) -> Config:
    """The ``task`` demo config on generated data (``settings[task +
    '_data']``), without evaluation, SyncBN as BN (one process), seed 0."""
    spec = det_demo_spec(DEMO_CONFIGS['det']) if task == 'det' else \
        seg_demo_spec(DEMO_CONFIGS['seg'])
    ensure_demo_data(data_root, spec.generate,
                     **dict(spec.data_params, **settings[f'{task}_data']))
    cfg = Config.fromfile(spec.config)
    point_config_to_data(spec, cfg, data_root)
    for key in ('val', 'test'):
        cfg[f'{key}_dataloader'] = cfg[f'{key}_evaluator'] = None
        cfg[f'{key}_cfg'] = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.train_dataloader.num_workers = settings['num_workers']
    cfg.train_dataloader.persistent_workers = settings['num_workers'] > 0
    cfg.randomness = dict(seed=0)
    cfg.launcher = 'none'
    sync_bn_to_bn(cfg.model)
    return cfg


def amp_training_config(task: str, data_root: str, work_dir: str,
                        settings: dict, amp: Optional[str]) -> tuple:
    """The config of :func:`train_demo_iterations` and the notes of its
    preparation.

    Prepared like the demos / ``tools/train.py``
    (``tools/launch_utils.py``): SyncBN as BN (one process), CPU
    adaptation, ``--amp`` as ``set_amp`` applies it (``'fp16'``,
    ``'bf16'`` or None: ``AmpOptimWrapper`` in that dtype on CUDA,
    ``OptimWrapper`` fp32 without); iteration-based, constant lr, no
    evaluation and no checkpoints.
    """
    cfg = demo_training_config(task, data_root, settings)
    cfg.train_cfg = dict(type='IterBasedTrainLoop',
                         max_iters=settings['train_iters'])
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    if settings['train_batch_size']:
        cfg.train_dataloader.batch_size = settings['train_batch_size']
    cfg.work_dir = work_dir
    notes = adapt_to_cpu(cfg, 'none') + set_amp(cfg, amp)
    return cfg, notes


def train_demo_iterations(task: str, data_root: str, work_dir: str,
                          settings: dict, amp: Optional[str]) -> dict:
    """Train the ``task`` demo config for ``settings['train_iters']``
    iterations on generated data (config: :func:`amp_training_config`) and
    report the losses."""
    cfg, notes = amp_training_config(task, data_root, work_dir, settings,
                                     amp)
    iters = settings['train_iters']
    runner = Runner.from_cfg(cfg)
    recorder = LossRecorder()
    runner.register_hook(recorder)
    device = 'cpu'
    if torch.cuda.is_available():
        device = 'cuda'
        torch.cuda.reset_peak_memory_stats()
    runner.train()
    losses = [it.get('loss') for it in recorder.iters]
    per_iter = [it['seconds'] for it in recorder.iters[1:]] or \
        [it['seconds'] for it in recorder.iters]
    result = dict(
        config=osp.relpath(DEMO_CONFIGS[task], _REPO),
        device=device,
        optim_wrapper=runner.optim_wrapper.__class__.__name__,
        compute_dtype=_compute_dtype(runner.optim_wrapper),
        iterations=len(recorder.iters),
        losses=losses,
        loss_terms=recorder.iters[-1] if recorder.iters else {},
        seconds_per_iter=sorted(per_iter)[len(per_iter) // 2]
        if per_iter else None,
        notes=notes)
    if device == 'cuda':
        result['peak_mem_mib'] = torch.cuda.max_memory_allocated() / 2**20
    finite = len(losses) == iters and all(_finite(v) for v in losses)
    result['status'] = 'ok' if finite else 'failed'
    if not finite:
        result['reason'] = f'{len(losses)}/{iters} iterations, losses ' \
            f'{losses}'
    return result


def _compute_dtype(optim_wrapper) -> str:
    dtype = getattr(optim_wrapper, 'cast_dtype', None)
    if not hasattr(optim_wrapper, 'loss_scaler') and dtype is None:
        return 'float32'
    return 'float16 (autocast)' if dtype is None else f'{dtype} (autocast)'


def amp_training(out_dir: str, settings: dict) -> dict:
    """The ``amp_train`` section: the det and the seg demo configs, each
    with fp16 and with bf16 (:data:`AMP_RUNS`)."""
    section = {}
    for name, (task, dtype) in AMP_RUNS.items():
        if dtype == 'bf16' and not torch.cuda.is_available():
            section[name] = _skip(BF16_WITHOUT_CUDA)
            continue
        try:
            section[name] = train_demo_iterations(
                task, osp.join(out_dir, 'data', f'{task}_demo'),
                osp.join(out_dir, 'work', name), settings, dtype)
        except Exception as err:  # noqa: BLE001
            section[name] = _error(err)
    return section


# ------------------------------------------------------------------ resume


def load_script(relpath: str) -> ModuleType:
    """Import a script of the repository (e.g. ``'tools/train.py'``) as a
    module."""
    path = osp.join(_REPO, relpath)
    name = 'gpu_check_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def float_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """CPU copies of the floating-point parameters and buffers."""
    if is_model_wrapper(model):
        model = model.module
    return {k: v.detach().float().cpu().clone()
            for k, v in model.state_dict().items() if v.is_floating_point()}


def train_with_train_tool(train_tool: ModuleType, config: str, work_dir: str,
                          name: str, resume: Optional[str] = None) -> dict:
    """Train ``config`` as ``python tools/train.py config --work-dir
    work_dir [--resume resume]`` does (its ``parse_args`` and
    ``build_config``: on CUDA the preflight and TF32; the safe checkpoint
    loaders), with a :class:`LossRecorder`; return the losses, the start
    iteration and the final parameters."""
    argv = [config, '--work-dir', work_dir, '--cfg-options',
            f'experiment_name={name}']
    if resume is not None:
        argv += ['--resume', resume]
    install_safe_loaders()
    cfg, notes = train_tool.build_config(train_tool.parse_args(argv))
    runner = Runner.from_cfg(cfg)
    recorder = LossRecorder()
    runner.register_hook(recorder)
    runner.train()
    return dict(losses=[it.get('loss') for it in recorder.iters],
                start_iter=recorder.start_iter, end_iter=runner.iter,
                state=float_state(runner.model), notes=notes)


def compare_runs(reference: dict, other: dict,
                 start: Dict[str, torch.Tensor]) -> dict:
    """How far ``other``'s final parameters and losses are from
    ``reference``'s, relative to how far training moved the parameters
    from ``start`` (the checkpoint) and to the losses.

    Returns:
        dict: ``diff_over_moved`` (norm of the parameter difference / norm
        of the reference's change since ``start``), ``moved`` (that change
        / norm of ``start``), ``max_abs_diff``, ``loss_rel_diffs`` (per
        compared iteration; the last ``len(other['losses'])`` iterations of
        the reference).
    """
    ref, got = reference['state'], other['state']
    if set(ref) != set(got) or set(ref) != set(start):
        raise ValueError('the runs have different parameters: '
                         f'{sorted(set(ref) ^ set(got))[:5]}')
    diff = math.sqrt(sum(float((ref[k] - got[k]).double().square().sum())
                         for k in ref))
    moved = math.sqrt(sum(float((ref[k] - start[k]).double().square().sum())
                          for k in ref))
    size = math.sqrt(sum(float(start[k].double().square().sum())
                         for k in ref))
    n = len(other['losses'])
    ref_losses = reference['losses'][-n:] if n else []
    return dict(
        diff_over_moved=diff / moved if moved > 0 else float('inf'),
        moved=moved / size if size > 0 else float('inf'),
        max_abs_diff=max(float((ref[k] - got[k]).abs().max()) for k in ref),
        loss_rel_diffs=[abs(a - b) / max(abs(a), 1e-12)
                        for a, b in zip(ref_losses, other['losses'])])


def resume_check(out_dir: str, settings: dict, device: str) -> dict:
    """The ``resume`` section (see the module doc).

    The detection demo config (atto) is trained epoch by epoch on a few
    generated images, with a checkpoint after every epoch, fp32. Data
    workers are re-created every epoch (``persistent_workers=False``, as
    the COCO recipe has it: a persistent worker's random stream is not
    part of a checkpoint). The runs are prepared by ``tools/train.py``'s
    own ``build_config``; ``mmengine.device.get_device()`` is the
    ``map_location`` of ``Runner.resume``.
    """
    opts = settings['resume']
    train_tool = load_script(osp.join('tools', 'train.py'))
    cfg = demo_training_config('det', osp.join(out_dir, 'data', 'det_demo'),
                               settings)
    epochs, resume_epoch = opts['epochs'], opts['resume_epoch']
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs)
    cfg.train_dataloader.batch_size = opts['batch_size']
    cfg.train_dataloader.persistent_workers = False
    if opts['images']:
        cfg.train_dataloader.dataset.indices = opts['images']
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    work = osp.join(out_dir, 'work', 'resume')
    shutil.rmtree(work, ignore_errors=True)  # no checkpoint of an old run
    os.makedirs(work)
    config = osp.join(work, 'det_demo_resume.py')
    cfg.dump(config)

    result = dict(config=osp.relpath(DEMO_CONFIGS['det'], _REPO),
                  device=device, map_location=get_device(), epochs=epochs,
                  resumed_from_epoch=resume_epoch)
    full = train_with_train_tool(train_tool, config,
                                 osp.join(work, 'uninterrupted'), 'full')
    checkpoint = osp.join(work, 'uninterrupted', f'epoch_{resume_epoch}.pth')
    resumed = train_with_train_tool(train_tool, config,
                                    osp.join(work, 'resumed'), 'resumed',
                                    resume=checkpoint)
    start = {k: v.float() for k, v in load_checkpoint_file(checkpoint)[
        'state_dict'].items() if v.is_floating_point()}
    result.update(
        # as tools/train.py set it (on CUDA: on unless --no-tf32)
        tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        iterations=len(full['losses']),
        resumed_start_iter=resumed['start_iter'],
        resumed_iterations=len(resumed['losses']),
        losses=full['losses'], resumed_losses=resumed['losses'],
        notes=resumed['notes'],
        **compare_runs(full, resumed, start))
    tolerance = dict(opts['tolerance'])
    if opts['noise_run']:
        # CUDA kernels (atomics, cuDNN's algorithm choice) are not
        # deterministic: two uninterrupted runs give the spread a resumed
        # run may show
        again = train_with_train_tool(train_tool, config,
                                      osp.join(work, 'uninterrupted_again'),
                                      'again')
        continued = len(again['losses']) - len(resumed['losses'])
        again['losses'] = again['losses'][continued:]
        noise = compare_runs(full, again, start)
        result['noise'] = noise
        tolerance['diff_over_moved'] = max(tolerance['diff_over_moved'],
                                           3 * noise['diff_over_moved'])
        tolerance['loss_rel_diff'] = max(
            tolerance['loss_rel_diff'],
            3 * max(noise['loss_rel_diffs'], default=0.))
    result['tolerance'] = tolerance
    checks = {
        'resumed at the checkpoint': resumed['start_iter'] == len(
            full['losses']) * resume_epoch // epochs,
        'continued to the end': resumed['end_iter'] == full['end_iter']
        and len(resumed['losses']) > 0,
        'parameters moved after the checkpoint': result['moved'] > 0,
        'same final parameters':
        result['diff_over_moved'] <= tolerance['diff_over_moved'],
        'same losses': all(
            d <= tolerance['loss_rel_diff'] for d in result['loss_rel_diffs'])
        and all(_finite(v) for v in full['losses'] + resumed['losses']),
    }
    failed = [name for name, ok in checks.items() if not ok]
    result['status'] = 'failed' if failed else 'ok'
    if failed:
        result['reason'] = '; '.join(failed)
    return result


# -------------------------------------------------------- deploy_precision


def randomize_statistics(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics / affine terms and GRN / layer-scale
    values, so that the deploy form folds something in every branch."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(t, low, high):
        return (torch.rand(t.shape, generator=gen) * (high - low) +
                low).to(t.device)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(uniform(module.running_mean, -.5,
                                                  .5))
                module.running_var.copy_(uniform(module.running_var, .5, 2.))
                module.weight.copy_(uniform(module.weight, .5, 1.5))
                module.bias.copy_(uniform(module.bias, -.5, .5))
        for name, param in model.named_parameters():
            if name.split('.')[-1] in ('gamma', 'beta'):
                param.copy_(uniform(param, -.5, .5))


def _rel_errors(outs, refs) -> List[float]:
    return [((o.float() - r).abs().max() / r.abs().max()).item()
            for o, r in zip(outs, refs)]


def deploy_precision(device: str, settings: dict) -> dict:
    """The ``deploy_precision`` section."""
    model = UniRepLKNet(settings['arch']).to(device)
    randomize_statistics(model)
    model.eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(*settings['precision_shape'], generator=gen).to(device)
    with torch.no_grad(), precision(device, None, False):
        training_out = model(x)
        deploy = copy.deepcopy(model).switch_to_deploy()
        ref = deploy(x)
    result = dict(arch=settings['arch'], shape=list(x.shape),
                  tolerances=TOLERANCES, comparisons={})
    runs = {
        'deploy_vs_training_fp32': None,
        'tf32': (None, True, False),
        'fp16': 'half',
        'amp_fp16': (torch.float16, True, False),
        'amp_bf16': (torch.bfloat16, True, False),
        'amp_fp16_channels_last': (torch.float16, True, True),
    }
    for name, how in runs.items():
        try:
            if how is None:
                errors = _rel_errors(training_out, ref)
            elif how == 'half':
                reason = autocast_skip_reason(device, torch.float16)
                if reason:
                    result['comparisons'][name] = _skip(reason)
                    continue
                half = copy.deepcopy(deploy).half()
                with torch.no_grad():
                    errors = _rel_errors(half(x.half()), ref)
            else:
                dtype, tf32, channels_last = how
                reason = autocast_skip_reason(device, dtype)
                if reason:
                    result['comparisons'][name] = _skip(reason)
                    continue
                net, inp = deploy, x
                if channels_last:
                    net = copy.deepcopy(deploy).to(
                        memory_format=torch.channels_last)
                    inp = x.to(memory_format=torch.channels_last)
                with torch.no_grad(), precision(device, dtype, tf32):
                    errors = _rel_errors(net(inp), ref)
            worst = max(errors)
            ok = all(math.isfinite(e) for e in errors) and \
                worst <= TOLERANCES[name]
            result['comparisons'][name] = dict(
                status='ok' if ok else 'failed', max_rel_err=worst,
                per_output=errors, tolerance=TOLERANCES[name])
        except Exception as err:  # noqa: BLE001
            result['comparisons'][name] = _error(err)
    return result


# --------------------------------------------------------------- roi_align

#: RoIs (batch index, x1, y1, x2, y2) on 96x128 inputs of the RoI check.
LAYOUT_CHECK_ROIS = ((0, 4., 6., 40., 50.), (1, 20., 10., 90., 60.),
                     (1, 0., 0., 120., 90.))


def roi_features_by_layout(model: nn.Module, images: torch.Tensor,
                           rois: torch.Tensor) -> Dict[str, torch.Tensor]:
    """RoI features of a two-stage detector's first RoI extractor, from
    the backbone + neck maps as they come (``'as_given'``), from
    contiguous copies (``'contiguous'``) and from channels-last copies
    (``'channels_last'``)."""
    extractor = model.roi_head.bbox_roi_extractor[0]
    with torch.no_grad():
        feats = model.extract_feat(images)[:extractor.num_inputs]
        plain = tuple(f.contiguous() for f in feats)
        last = tuple(f.to(memory_format=torch.channels_last) for f in plain)
        return dict(
            as_given=extractor(feats, rois),
            contiguous=extractor(plain, rois),
            channels_last=extractor(last, rois),
            maps=plain)


def roi_feature_layout_check(device: str) -> dict:
    """RoI features of the demo detector on ``device``.

    mmcv's ``RoIAlign`` indexes raw NCHW memory, so maps with another
    layout would give scrambled features (the bug behind the first
    detection demo, see tests/test_det/test_roi_features.py): the features
    from backbone + FPN must equal those of contiguous copies. Channels-last
    copies of the maps are recorded for information (``channels_last``),
    not checked. On CUDA, the CUDA ``RoIAlign`` and ``nms`` are compared
    with their CPU results.
    """
    register_mmdet_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        cfg = Config.fromfile(DEMO_CONFIGS['det'])
        sync_bn_to_bn(cfg.model)
        torch.manual_seed(0)
        model = MMDET_MODELS.build(cfg.model)
        model.init_weights()
        model.to(device).eval()
    extractor = model.roi_head.bbox_roi_extractor[0]
    rois = torch.tensor(LAYOUT_CHECK_ROIS, device=device)
    images = torch.randn(2, 3, 96, 128,
                         generator=torch.Generator().manual_seed(0))
    features = roi_features_by_layout(model, images.to(device), rois)
    actual, expected = features['as_given'], features['contiguous']
    last, plain = features['channels_last'], features['maps']
    diff = (actual - expected).abs().max().item()
    result = dict(
        device=device,
        max_abs_feature=expected.abs().max().item(),
        max_abs_diff=diff,
        channels_last=dict(
            max_abs_diff=(last - expected).abs().max().item(),
            note='information only: mmcv RoIAlign on channels-last maps'))
    ok = result['max_abs_feature'] > 0 and diff <= 1e-5 * max(
        1., result['max_abs_feature'])
    result['status'] = 'ok' if ok else 'failed'
    if device.startswith('cuda'):
        result['cuda_vs_cpu'] = _cuda_vs_cpu_ops(plain, rois, extractor)
        if result['cuda_vs_cpu']['status'] != 'ok':
            result['status'] = result['cuda_vs_cpu']['status']
    else:
        result['cuda_vs_cpu'] = _skip('device is the CPU: no CUDA op to '
                                      'compare')
    return result


def _cuda_vs_cpu_ops(feats, rois, extractor) -> dict:
    """mmcv RoIAlign (forward and input gradient) and nms, CUDA vs CPU."""
    layer = RoIAlign((7, 7), spatial_scale=1 / 4., sampling_ratio=2,
                     aligned=True)
    out = {}
    x_gpu = feats[0].detach().clone().requires_grad_(True)
    x_cpu = feats[0].detach().cpu().clone().requires_grad_(True)
    y_gpu = layer(x_gpu, rois)
    y_cpu = layer(x_cpu, rois.cpu())
    y_gpu.square().sum().backward()
    y_cpu.square().sum().backward()
    out['roi_align_forward_max_abs_diff'] = (
        y_gpu.detach().cpu() - y_cpu.detach()).abs().max().item()
    out['roi_align_grad_max_abs_diff'] = (
        x_gpu.grad.cpu() - x_cpu.grad).abs().max().item()
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=gen) * 30],
                      1)
    scores = torch.rand(200, generator=gen)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)
    out['nms_same_keep'] = keep_gpu.cpu().tolist() == keep_cpu.tolist()
    ok = out['roi_align_forward_max_abs_diff'] <= 1e-4 and \
        out['roi_align_grad_max_abs_diff'] <= 1e-3 and out['nms_same_keep']
    out['status'] = 'ok' if ok else 'failed'
    return out


# ----------------------------------------------------------------- driver


def _statuses(node, path='') -> Iterator[tuple]:
    """(path, status, detail) of every result in a section tree."""
    if isinstance(node, dict):
        if 'status' in node:
            yield path, node['status'], node.get('reason') or node.get(
                'error', '')
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _statuses(value, f'{path}.{key}' if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            label = i
            if isinstance(value, dict) and 'variant' in value:
                label = f'{value["variant"]}/{value["model"]}/' \
                        f'{value["phase"]}'
            yield from _statuses(value, f'{path}[{label}]')


def summarize(result: dict) -> dict:
    failures, skipped = [], []
    for path, status, detail in _statuses(result['sections']):
        if status in ('failed', 'error'):
            failures.append(f'{path}: {status} {detail}'.strip())
        elif status == 'skipped':
            skipped.append(f'{path}: {detail}')
    return dict(ok=not failures, failures=failures, skipped=skipped)


def run_gpu_check(out_dir: str,
                  dry_run: bool = False,
                  device: Optional[str] = None,
                  sections: Optional[List[str]] = None,
                  json_path: Optional[str] = None) -> dict:
    """Run the check; the JSON is rewritten after every section (a run cut
    short by a time limit still leaves the finished sections).

    Args:
        out_dir (str): Generated data, training work dirs and the JSON.
        dry_run (bool): Tiny CPU run of the same code (see module doc).
        device (str, optional): Default ``cuda`` (``cpu`` for a dry run).
        sections (list[str], optional): Subset of :data:`SECTIONS`.
        json_path (str, optional): Default ``<out_dir>/gpu_check.json``.
    """
    device = device or ('cpu' if dry_run else 'cuda')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError('no CUDA device: run on a GPU machine or use '
                           '--dry-run (CPU, tiny shapes)')
    sections = list(sections or SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f'unknown sections {sorted(unknown)}; choose from '
                         f'{SECTIONS}')
    settings = check_settings(dry_run)
    os.makedirs(out_dir, exist_ok=True)
    json_path = json_path or osp.join(out_dir, 'gpu_check.json')
    result = dict(schema_version=SCHEMA_VERSION,
                  env=environment(device, dry_run),
                  settings={k: v if isinstance(v, (int, str, dict)) else
                            list(v) for k, v in settings.items()},
                  sections={}, seconds={})
    start = time.perf_counter()
    runners = {
        'preflight': lambda: preflight(device),
        'backbone': lambda: benchmark_backbones(device, settings),
        'layout': lambda: layout_check(device, settings),
        'amp_train': lambda: amp_training(out_dir, settings),
        'resume': lambda: resume_check(out_dir, settings, device),
        'deploy_precision': lambda: deploy_precision(device, settings),
        'roi_align': lambda: roi_feature_layout_check(device),
    }
    for name in sections:
        tic = time.perf_counter()
        print(f'[gpu_check] {name} ...', flush=True)
        try:
            result['sections'][name] = runners[name]()
        except Exception as err:  # noqa: BLE001
            result['sections'][name] = _error(err)
        result['seconds'][name] = round(time.perf_counter() - tic, 1)
        result['seconds']['total'] = round(time.perf_counter() - start, 1)
        result['summary'] = summarize(result)
        _write_json(result, json_path)
    result['json'] = json_path
    return result


def _write_json(result: dict, path: str) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(result, f, indent=2, allow_nan=True)
    os.replace(tmp, path)


# ------------------------------------------------------------------ table


def _num(value, fmt='{:.1f}') -> str:
    return fmt.format(value) if _finite(value) else '-'


def _backbone_table(bb: dict) -> List[str]:
    """img/s (peak MiB) per model and phase (rows) and variant (columns),
    then the speed ratios of each variant."""
    variants = list(dict.fromkeys(r['variant'] for r in bb['rows']))
    cells = {(r['phase'], r['model'], r['variant']): r for r in bb['rows']}
    keys = list(dict.fromkeys((r['phase'], r['model']) for r in bb['rows']))
    width = 14

    def cell(r):
        if r is None:
            return ''
        if r['status'] != 'ok':
            return r['status']
        return f'{r["img_per_s"]:.1f} ({_num(r["peak_mem_mib"], "{:.0f}")})'

    def speed(phase, model, variant):
        r = cells.get((phase, model, variant))
        return r['img_per_s'] if r and r['status'] == 'ok' else None

    lines = [f'backbone {bb["arch"]}: img/s (peak MiB); inference '
             f'{bb["infer_case"]}, forward+backward {bb["train_case"]} '
             f'(HxWxbatch)',
             f'{"":<32}' + ''.join(f'{VARIANT_LABELS.get(v, v):>{width}}'
                                   for v in variants)]
    for phase, model in keys:
        lines.append((f'{phase + " " + model:<32}' + ''.join(
            f'{cell(cells.get((phase, model, v))):>{width}}'
            for v in variants)).rstrip())
    ratios = [('infer deploy / training form', 'infer', 'unireplknet-deploy',
               'unireplknet'),
              ('infer deploy / convnext', 'infer', 'unireplknet-deploy',
               'convnext'),
              ('infer deploy / swin', 'infer', 'unireplknet-deploy', 'swin'),
              ('train unireplknet / convnext', 'train', 'unireplknet',
               'convnext'),
              ('train unireplknet / swin', 'train', 'unireplknet', 'swin')]
    for label, phase, a, b in ratios:
        values = []
        for v in variants:
            sa, sb = speed(phase, a, v), speed(phase, b, v)
            values.append(f'{sa / sb:.2f}x' if sa and sb else '')
        if any(values):
            lines.append((f'{label:<32}' + ''.join(
                f'{x:>{width}}' for x in values)).rstrip())
    return lines


def _layout_table(lo: dict) -> List[str]:
    """img/s (peak MiB) of the two streams per variant, and their ratio."""
    cells = {(r['variant'], r['model']): r for r in lo['rows']}
    variants = list(dict.fromkeys(r['variant'] for r in lo['rows']))
    lines = [f'layout {lo["arch"]} training form, forward+backward '
             f'{lo["case"]}: img/s (peak MiB)',
             f'{"":<32}{"as is (ch-last)":>18}{"NCHW blocks":>18}'
             f'{"NCHW / as is":>14}']
    for variant in variants:
        row = f'{VARIANT_LABELS.get(variant, variant):<32}'
        speeds = []
        for stream in LAYOUT_STREAMS:
            r = cells.get((variant, stream), {})
            if r.get('status') == 'ok':
                speeds.append(r['img_per_s'])
                cell = f'{r["img_per_s"]:.1f} (' \
                    f'{_num(r["peak_mem_mib"], "{:.0f}")})'
                row += f'{cell:>18}'
            else:
                row += f'{r.get("status", ""):>18}'
        if len(speeds) == 2 and speeds[0] > 0:
            row += f'{speeds[1] / speeds[0]:>13.2f}x'
        lines.append(row.rstrip())
    return lines


def format_table(result: dict) -> str:
    """The check's results as one plain-text table (plus its summary)."""
    lines = []
    env = result['env']
    lines.append(f'GPU check ({"DRY RUN on CPU" if env["dry_run"] else "full"}'
                 f'): device {env.get("gpu", env["device"])}, torch '
                 f'{env["torch"]} (CUDA {env["torch_cuda"]}), mmcv '
                 f'{env.get("mmcv")} (ops CUDA {env.get("mmcv_cuda")})')
    sec = result['sections']
    bb = sec.get('backbone')
    if bb and 'rows' in bb:
        lines += [''] + _backbone_table(bb)
    lo = sec.get('layout')
    if lo and 'rows' in lo:
        lines += [''] + _layout_table(lo)
    head = f'{"check":<52}{"value":>14}  {"status":<8}'
    lines += ['', head, '-' * len(head)]

    def add(label, value, status):
        lines.append(f'{label:<52}{value:>14}  {status:<8}'.rstrip())

    pf = sec.get('preflight')
    if pf:
        add(f'preflight mmcv ops on {pf.get("device", "?")}', '-',
            pf.get('status', '?'))
    if bb and 'rows' not in bb:
        add('backbone', '-', bb.get('status', '?'))
    if lo and 'comparison' in lo:
        cmp = lo['comparison']
        add('layout NCHW vs as-is outputs max rel err', _num(
            cmp['outputs_max_rel_err'], '{:.1e}'), cmp['status'])
        add('  gradients max rel err', _num(cmp['grads_max_rel_err'],
                                            '{:.1e}'), '')
    elif lo:
        add('layout', '-', lo.get('status', '?'))
    at = sec.get('amp_train', {})
    for task, r in at.items():
        if r.get('status') in ('ok', 'failed'):
            last = r['losses'][-1] if r['losses'] else None
            value = _num(last, '{:.3f}')
            add(f'train {task} {r["optim_wrapper"]} {r["iterations"]} it '
                f'(last loss)', value, r['status'])
            add(f'  {task} s/iter', _num(r['seconds_per_iter'], '{:.3f}'),
                '')
        else:
            add(f'train {task}', '-', r.get('status', '?'))
    rs = sec.get('resume')
    if rs and 'diff_over_moved' in rs:
        add(f'resume {rs["map_location"]}: params diff / moved', _num(
            rs['diff_over_moved'], '{:.1e}'), rs['status'])
        add(f'  losses max rel diff ({rs["resumed_iterations"]} it)', _num(
            max(rs['loss_rel_diffs'], default=None), '{:.1e}'), '')
    elif rs:
        add('resume', '-', rs.get('status', '?'))
    dp = sec.get('deploy_precision', {})
    for name, r in dp.get('comparisons', {}).items():
        add(f'deploy {dp.get("arch")} {name} max rel err',
            _num(r.get('max_rel_err'), '{:.2e}'), r['status'])
    if 'status' in dp and 'comparisons' not in dp:
        add('deploy precision', '-', dp['status'])
    ra = sec.get('roi_align')
    if ra and 'max_abs_diff' in ra:
        add(f'roi_align {ra["device"]} raw vs contiguous', _num(
            ra['max_abs_diff'], '{:.1e}'), ra['status'])
        add('  channels-last maps (info)', _num(
            ra['channels_last']['max_abs_diff'], '{:.1e}'), 'info')
        cv = ra['cuda_vs_cpu']
        add('  CUDA vs CPU RoIAlign / nms', _num(
            cv.get('roi_align_forward_max_abs_diff'), '{:.1e}'),
            cv['status'])
    elif ra:
        add('roi_align', '-', ra.get('status', '?'))
    summary = result.get('summary', {})
    lines += ['', f'summary: {"OK" if summary.get("ok") else "FAILED"}; '
              f'{len(summary.get("skipped", []))} skipped; '
              f'{result["seconds"].get("total", 0):.0f} s']
    for item in summary.get('failures', []):
        lines.append(f'  FAILED {item}')
    for item in summary.get('skipped', []):
        lines.append(f'  skipped {item}')
    return '\n'.join(lines)


# -------------------------------------------------------------------- CLI


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--out-dir', default='work_dirs/gpu_check',
        help='data, work dirs and gpu_check.json (default %(default)s)')
    parser.add_argument('--json', help='JSON path (<out-dir>/gpu_check.json)')
    parser.add_argument(
        '--dry-run', action='store_true',
        help='run the same code on the CPU with tiny shapes, 1 iteration')
    parser.add_argument('--device', help='default cuda (cpu with --dry-run)')
    parser.add_argument(
        '--sections', nargs='+', choices=SECTIONS, help='default: all')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run_gpu_check(args.out_dir, dry_run=args.dry_run,
                           device=args.device, sections=args.sections,
                           json_path=args.json)
    print('\n' + format_table(result))
    print(f'\nresults written to {result["json"]}')
    return 0 if result['summary']['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
