# Copyright (c) mmunireplk contributors. All rights reserved.
"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``.

They serve detection and segmentation configs alike (the task is read off
the config) and make the same config run on a machine without CUDA:
SyncBN becomes BN, distributed runs use gloo on CPU, and AMP falls back to
fp32 with a warning.
"""
import ctypes
import os
import subprocess
from typing import Any, List, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict

from mmunireplk.checkpoint import ATOMIC_BACKEND

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'nn.SyncBatchNorm', 'SyncBatchNorm')
TASK_SCOPES = {'mmdet': 'det', 'mmseg': 'seg', 'mmpretrain': 'cls'}


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


def detect_task(cfg: Config) -> Optional[str]:
    """``'det'``, ``'seg'``, ``'cls'`` or None, from ``default_scope`` or
    the scope prefix of the model type (e.g. ``'mmdet.CascadeRCNN'``)."""
    scope = cfg.get('default_scope')
    if scope in TASK_SCOPES:
        return TASK_SCOPES[scope]
    model_type = str(cfg.get('model', {}).get('type', ''))
    return TASK_SCOPES.get(model_type.split('.')[0])


def sync_bn_to_bn(node: Any, path: str = 'cfg') -> List[str]:
    """Replace SyncBN by BN in a config tree in place.

    Norm configs of type SyncBN become ``BN`` and ``use_sync_bn=True``
    flags (the UniRepLKNet backbone) become False.

    Returns:
        list[str]: The config paths that were changed.
    """
    changed: List[str] = []
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(f'{path}.type')
        if node.get('use_sync_bn') is True:
            node['use_sync_bn'] = False
            changed.append(f'{path}.use_sync_bn')
        for key, value in node.items():
            changed += sync_bn_to_bn(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += sync_bn_to_bn(value, f'{path}[{i}]')
    return changed


def set_amp(cfg: Config, enable: bool) -> List[str]:
    """Switch the optimiser wrapper to AMP if asked and CUDA is present.

    Without CUDA, ``AmpOptimWrapper`` (which asserts a GPU) is replaced by
    ``OptimWrapper``, whether it came from ``--amp`` or from the config.

    Returns:
        list[str]: Warnings to log.
    """
    messages: List[str] = []
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        return messages
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if torch.cuda.is_available():
        if enable and wrapper_type != 'AmpOptimWrapper':
            if wrapper_type != 'OptimWrapper':
                raise ValueError(f'--amp only works with OptimWrapper, the '
                                 f'config uses {wrapper_type}')
            optim_wrapper['type'] = 'AmpOptimWrapper'
            optim_wrapper.setdefault('loss_scale', 'dynamic')
        return messages
    if enable:
        messages.append('--amp needs a CUDA GPU; none is available, so the '
                        'run uses fp32 with OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            optim_wrapper.pop(key, None)
        if not enable:
            messages.append('The config asks for AmpOptimWrapper but no CUDA '
                            'GPU is available: using OptimWrapper (fp32)')
    return messages


def adapt_to_cpu(cfg: Config, launcher: str) -> List[str]:
    """Make a GPU config run without CUDA (no-op when CUDA is available).

    - SyncBN -> BN (SyncBN cannot run on CPU under DDP), ``sync_bn`` off;
    - distributed runs: gloo backend, DDP without ``device_ids``;
    - glibc's malloc keeps freed memory for reuse
      (:func:`keep_freed_memory_for_reuse`; a process setting, not a
      config change).

    Returns:
        list[str]: What was changed, to log.
    """
    if torch.cuda.is_available():
        return []
    messages: List[str] = []
    if keep_freed_memory_for_reuse():
        messages.append('No CUDA: glibc malloc keeps freed memory for reuse '
                        '(fewer page faults in CPU training)')
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
