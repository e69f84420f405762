# Copyright (c) mmunireplk contributors. All rights reserved.
"""Device checks, process-wide settings and config adjustments of
``tools/train.py``, ``tools/test.py``, the demos and the GPU check.

- :func:`resolve_device`: the run's device; a GPU node whose CUDA is
  unusable is an error (naming the cause), not a silent CPU run; the CPU is
  chosen on purpose with ``--device cpu``.
- :func:`check_torch_cuda`, :func:`check_mmcv_ops`: the preflight on a GPU
  (torch runs a kernel; mmcv's ``nms`` / ``RoIAlign`` run on the device).
- :func:`set_tf32`, :func:`keep_freed_memory_for_reuse`: process-wide
  torch / malloc settings, which only the tools make.
- config adjustments for detection, segmentation and classification
  configs alike (the task is read off the config): AMP with a dtype, and
  the CPU adaptations (SyncBN becomes BN, distributed runs use gloo, AMP
  falls back to fp32 with a warning).

The tools import it as ``launch_utils`` (their folder is on ``sys.path``).
"""
import argparse
import ctypes
import glob
import os
import shutil
import subprocess
from contextlib import contextmanager
from typing import Iterator, List, Mapping, Optional

import torch
import torch.distributed as torch_dist
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
from mmengine.config import Config, ConfigDict

from mmunireplk.checkpoint import ATOMIC_BACKEND
from mmunireplk.utils import detect_task, sync_bn_to_bn

#: AMP dtypes of ``--amp`` and what mmengine's AmpOptimWrapper calls them.
AMP_DTYPES = {'fp16': 'float16', 'bf16': 'bfloat16'}
#: Environment variables that mean "this job was given GPUs" (schedulers,
#: NVIDIA's container runtime).
GPU_ENV_VARS = ('SLURM_JOB_GPUS', 'SLURM_STEP_GPUS', 'SLURM_GPUS_ON_NODE',
                'NVIDIA_VISIBLE_DEVICES')


class CudaUnusableError(RuntimeError):
    """CUDA is expected (a GPU node, or ``--device cuda``) but unusable."""


def gpu_node_signs(env: Optional[Mapping[str, str]] = None,
                   dev_dir: str = '/dev') -> List[str]:
    """What says this machine or job has NVIDIA GPUs, whatever torch sees:
    NVIDIA device files, ``nvidia-smi`` on PATH, a non-empty
    ``CUDA_VISIBLE_DEVICES`` or a scheduler's GPU variables.

    ``CUDA_VISIBLE_DEVICES`` set to ``''`` or ``-1`` hides the GPUs on
    purpose and is no sign.
    """
    env = os.environ if env is None else env
    signs = []
    devices = sorted(glob.glob(os.path.join(dev_dir, 'nvidia[0-9]*')))
    if devices:
        signs.append(f'{len(devices)} NVIDIA device file(s) in {dev_dir}')
    if shutil.which('nvidia-smi', path=env.get('PATH')):
        signs.append('nvidia-smi on PATH')
    visible = env.get('CUDA_VISIBLE_DEVICES')
    if visible is not None and visible.strip() in ('', '-1'):
        return []  # GPUs hidden on purpose
    if visible:
        signs.append(f'CUDA_VISIBLE_DEVICES={visible}')
    for name in GPU_ENV_VARS:
        if env.get(name) not in (None, '', 'void', 'none'):
            signs.append(f'{name}={env[name]}')
    return signs


def cuda_failure_reason() -> str:
    """Why torch cannot use CUDA here, in torch's words."""
    if torch.version.cuda is None:
        return (f'this torch ({torch.__version__}) is a CPU-only build; '
                'install a CUDA build of torch')
    try:
        torch.cuda.init()
    except Exception as error:  # torch says what is wrong (driver, devices)
        return f'torch {torch.__version__} (CUDA {torch.version.cuda}): ' \
            f'{error}'
    return f'torch {torch.__version__} (CUDA {torch.version.cuda}) finds ' \
        f'{torch.cuda.device_count()} usable GPU(s)'


def resolve_device(requested: str = 'auto',
                   env: Optional[Mapping[str, str]] = None,
                   dev_dir: str = '/dev') -> str:
    """The device of a run: ``'cuda'`` or ``'cpu'``.

    Args:
        requested (str): ``'auto'`` (CUDA when usable, the CPU on a machine
            without GPUs), ``'cuda'`` or ``'cpu'`` (on purpose, also on a
            GPU node).

    Raises:
        CudaUnusableError: ``'cuda'`` was asked for, or this is a GPU node
            (:func:`gpu_node_signs`), but torch cannot use CUDA (driver too
            old, a container started without GPUs, a wrong
            ``CUDA_VISIBLE_DEVICES``, a CPU-only torch ...). Without this a
            GPU job would train on the CPU.
    """
    if requested not in ('auto', 'cuda', 'cpu'):
        raise ValueError(f"device must be 'auto', 'cuda' or 'cpu', got "
                         f'{requested!r}')
    if requested == 'cpu':
        if torch.cuda.is_available():
            raise CudaUnusableError(
                'The CPU was chosen (--device cpu) but torch can already use '
                'CUDA in this process; hide the GPUs before it starts '
                '(CUDA_VISIBLE_DEVICES= python ...)')
        return 'cpu'
    if torch.cuda.is_available():
        return 'cuda'
    signs = gpu_node_signs(env, dev_dir)
    if requested == 'auto' and not signs:
        return 'cpu'
    found = f"this looks like a GPU node ({'; '.join(signs)})" if signs \
        else 'CUDA was asked for (--device cuda)'
    raise CudaUnusableError(
        f'{found}, but torch cannot use CUDA: {cuda_failure_reason()}. '
        'Fix the driver / container / CUDA_VISIBLE_DEVICES (nvidia-smi '
        'shows what the node has), or train on the CPU on purpose with '
        '--device cpu.')


def check_torch_cuda(device: str = 'cuda') -> None:
    """Run a small matmul and convolution on ``device``.

    Raises:
        CudaUnusableError: If torch's kernels do not run there (e.g. a torch
            build without kernels for this GPU's architecture).
    """
    try:
        x = torch.randn(8, 4, 8, 8, device=device)
        weight = torch.randn(4, 1, 3, 3, device=device)
        torch.nn.functional.conv2d(x, weight, padding=1, groups=4)
        (x.flatten(1) @ x.flatten(1).T).sum().item()
    except Exception as error:
        raise CudaUnusableError(
            f'torch {torch.__version__} (CUDA {torch.version.cuda}) cannot '
            f'run kernels on {device}: {error}. Install a torch build for '
            'this GPU and driver (see docs/gpu_training.md).') from error


def check_mmcv_ops(device: str = 'cuda') -> None:
    """Run mmcv's ``nms`` and ``RoIAlign`` on ``device`` and compare them
    with their CPU results (the ops a detector calls first).

    Raises:
        CudaUnusableError: If mmcv has no ops for the device (built on a
            machine without a GPU, or for other GPU architectures) or they
            give other results than on the CPU; the message names the fix.
    """
    from_install = ('rebuild mmcv on this node: bash tools/install.sh, or '
                    'FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="<major.minor of your '
                    'GPUs>" bash tools/install.sh on a machine with nvcc')
    if torch.device(device).type == 'cuda' and \
            get_compiling_cuda_version() == 'not available':
        raise CudaUnusableError(
            'mmcv was built without CUDA ops (on a machine without a GPU?): '
            f'detectors cannot run on {device}; {from_install}')
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([.9, .8, .7])
    feats = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(
        1, 2, 16, 16) / 100
    rois = torch.tensor([[0., 1., 1., 9., 9.]])
    roi_align = RoIAlign((2, 2), 1.0, sampling_ratio=2, aligned=True)
    try:
        _, keep = nms(boxes.to(device), scores.to(device), .5)
        pooled = roi_align(feats.to(device), rois.to(device))
        same = keep.cpu().tolist() == nms(boxes, scores, .5)[1].tolist() \
            and torch.allclose(pooled.cpu(), roi_align(feats, rois),
                               atol=1e-5)
    except Exception as error:
        raise CudaUnusableError(
            f"mmcv's nms / RoIAlign fail on {device}: {error}. mmcv was "
            f'built for other GPUs or without CUDA ops; {from_install}'
        ) from error
    if not same:
        raise CudaUnusableError(
            f"mmcv's nms / RoIAlign on {device} disagree with the CPU; "
            f'{from_install}')


def set_tf32(enabled: bool) -> None:
    """Let fp32 matmuls and cuDNN convolutions use TF32 tensor cores
    (process-wide; what the tools do on CUDA unless ``--no-tf32``)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--no-tf32``, shared by the train and test tools."""
    parser.add_argument(
        '--device',
        choices=['auto', 'cuda', 'cpu'],
        default='auto',
        help='auto: CUDA when usable, the CPU on a machine without GPUs, an '
        'error on a GPU node whose CUDA is unusable; cpu: the CPU on '
        'purpose (SyncBN becomes BN, no AMP)')
    parser.add_argument(
        '--no-tf32',
        action='store_true',
        help='keep fp32 matmuls and convolutions in full fp32 on CUDA (TF32 '
        'is on by default, as the published models were trained)')


def prepare_device(args: argparse.Namespace,
                   task: Optional[str]) -> List[str]:
    """Resolve ``args.device`` and, on CUDA, run the preflight and set TF32.

    The preflight runs torch on this process's GPU (``LOCAL_RANK``) and, for
    detection configs, mmcv's ``nms`` / ``RoIAlign`` there, so a broken
    environment stops before the runner is built instead of at the first
    detector iteration.

    Returns:
        list[str]: Messages to log.

    Raises:
        CudaUnusableError: See :func:`resolve_device`,
            :func:`check_torch_cuda` and :func:`check_mmcv_ops`.
    """
    if resolve_device(args.device) == 'cpu':
        return []
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    device = f'cuda:{local_rank % torch.cuda.device_count()}'
    check_torch_cuda(device)
    if task == 'det':
        check_mmcv_ops(device)
    set_tf32(not args.no_tf32)
    return [f'TF32 matmuls and convolutions: '
            f'{"off (--no-tf32)" if args.no_tf32 else "on"}']


def keep_freed_memory_for_reuse(trim_threshold: int = 1 << 30,
                                mmap_threshold: int = 32 << 20) -> bool:
    """Let glibc's malloc keep freed memory for reuse (process-wide).

    CPU training frees and re-allocates the same multi-MB activations every
    iteration; with glibc's defaults many of them come back as freshly
    mapped pages, each of which page-faults on first touch. Raising
    ``M_MMAP_THRESHOLD`` (to its maximum, 32 MiB) and ``M_TRIM_THRESHOLD``
    keeps them in the heap (the effect of the ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` environment variables, or of preloading
    jemalloc / tcmalloc as PyTorch's CPU performance guide suggests).
    Results are unchanged; the process keeps up to its peak heap.

    Returns:
        bool: False if malloc is not glibc's (nothing changed).
    """
    try:
        mallopt = ctypes.CDLL('libc.so.6').mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(
        mallopt(m_trim_threshold, trim_threshold))


def set_amp(cfg: Config, dtype: Optional[str]) -> List[str]:
    """Switch the optimiser wrapper to AMP in ``dtype`` if asked and CUDA is
    present.

    Args:
        cfg (Config): The config, changed in place.
        dtype (str, optional): ``'fp16'`` (dynamic loss scaling, as mmdet's
            ``--amp``), ``'bf16'`` (the safer choice on A100 / H100 for
            segmentation and classification; refused for detection configs,
            whose RoIAlign has no bf16 kernel) or None to keep the config's
            wrapper.

    Without CUDA, ``AmpOptimWrapper`` (which asserts a GPU) is replaced by
    ``OptimWrapper``, whether it came from ``--amp`` or from the config.

    Returns:
        list[str]: Warnings to log.
    """
    if dtype is not None and dtype not in AMP_DTYPES:
        raise ValueError(f'AMP dtype must be one of {sorted(AMP_DTYPES)}, '
                         f'got {dtype!r}')
    if dtype == 'bf16' and detect_task(cfg) == 'det':
        # under autocast mmdet's RoI extractors pass bf16 maps to RoIAlign
        raise ValueError(
            "--amp bf16 cannot train detectors: mmcv 2.1.0's RoIAlign has "
            'no bfloat16 kernel (it runs float, double and half); use --amp '
            '(fp16) or fp32 with TF32 for detection configs')
    messages: List[str] = []
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        return messages
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if torch.cuda.is_available():
        if dtype is not None:
            if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
                raise ValueError(f'--amp only works with OptimWrapper, the '
                                 f'config uses {wrapper_type}')
            optim_wrapper['type'] = 'AmpOptimWrapper'
            optim_wrapper['dtype'] = AMP_DTYPES[dtype]
            optim_wrapper.setdefault('loss_scale', 'dynamic')
        return messages
    if dtype is not None:
        messages.append(f'--amp {dtype} needs a CUDA GPU; the run is on the '
                        'CPU, so it uses fp32 with OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            optim_wrapper.pop(key, None)
        if dtype is None:
            messages.append('The config asks for AmpOptimWrapper but the '
                            'run is on the CPU: using OptimWrapper (fp32)')
    return messages


def adapt_to_cpu(cfg: Config, launcher: str) -> List[str]:
    """Make a GPU config run without CUDA (no-op when CUDA is available).

    - SyncBN -> BN (SyncBN cannot run on CPU under DDP), ``sync_bn`` off;
    - distributed runs: gloo backend, DDP without ``device_ids``.

    Returns:
        list[str]: What was changed, to log.
    """
    if torch.cuda.is_available():
        return []
    messages: List[str] = []
    changed = sync_bn_to_bn(cfg.get('model'), 'model')
    if changed:
        messages.append('No CUDA: SyncBN converted to BN at ' +
                        ', '.join(changed))
    if cfg.get('sync_bn'):
        messages.append(f'No CUDA: cfg.sync_bn={cfg.sync_bn!r} ignored')
        cfg.sync_bn = None
    if launcher != 'none':
        # assign back: Config.setdefault may return a copy
        env_cfg = ConfigDict(cfg.get('env_cfg') or {})
        env_cfg.dist_cfg = ConfigDict(env_cfg.get('dist_cfg') or {},
                                      backend='gloo')
        cfg.env_cfg = env_cfg
        wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
        messages.append('No CUDA: distributed run on CPU with the gloo '
                        'backend')
    return messages


def init_cpu_distributed(launcher: str) -> None:
    """Start a gloo process group for ``pytorch``/``slurm`` launchers on CPU.

    mmengine's own initialisation selects a CUDA device first, which fails
    without a GPU; the Runner skips it once a process group exists.

    Raises:
        ValueError: For a launcher that cannot run on CPU here.
    """
    if launcher == 'none' or torch.cuda.is_available() or \
            torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        node_list = os.environ['SLURM_NODELIST']
        os.environ.setdefault(
            'MASTER_ADDR',
            subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1'))
        os.environ.setdefault('MASTER_PORT', '29500')
        os.environ['RANK'] = os.environ['SLURM_PROCID']
        os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
        os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']
    elif launcher != 'pytorch':
        raise ValueError(f'Launcher {launcher!r} is not supported without '
                         'CUDA; use "pytorch" (tools/dist_*.sh) or "slurm"')
    torch_dist.init_process_group(backend='gloo')


@contextmanager
def distributed_run(launcher: str) -> Iterator[None]:
    """Run a tool's job in a process group that is destroyed when it ends.

    Starts the gloo group on CPU (:func:`init_cpu_distributed`; on a GPU the
    Runner starts NCCL). After the job, the group the run used is destroyed:
    a process that reaches interpreter shutdown with a live gloo group can
    abort in gloo's worker threads ("terminate called without an active
    exception") and torch warns about an undestroyed NCCL group. After an
    error the group is left alone, so that a failing rank exits at once
    instead of waiting on its peers.
    """
    init_cpu_distributed(launcher)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def use_atomic_checkpoints(cfg: Config) -> None:
    """Write checkpoints through the atomic local backend, unless the config
    already chose a storage backend for the CheckpointHook."""
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    if hook is not None and not hook.get('backend_args') and \
            not hook.get('out_dir'):
        hook['backend_args'] = dict(backend=ATOMIC_BACKEND)


def add_safe_checkpoint_hook(cfg: Config) -> None:
    """Add ``mmunireplk.SafeCheckpointHook`` to ``custom_hooks`` unless the
    config has it: checkpoints then load weights-only and resume exactly."""
    # Assign the list back: Config.setdefault returns a copy of a new list.
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any('SafeCheckpointHook' in str(h.get('type')) for h in hooks):
        hooks.append(dict(type='mmunireplk.SafeCheckpointHook'))
    cfg.custom_hooks = hooks


def enable_tta(cfg: Config) -> None:
    """Wrap the model in the config's TTA model and use its pipeline.

    Raises:
        KeyError: If the config has no ``tta_model`` / ``tta_pipeline``.
    """
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise KeyError(f'--tta needs {missing} in the config')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
