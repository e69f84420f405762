# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading runner checkpoints weights-only and writing them atomically.

Files are read by :mod:`mmunireplk.models.pretrained` (weights-only with a
minimal allow-list; an explicit, logged opt-in unpickles in full): this
module adds what runner checkpoints need on top, namely the runner state
that :class:`~mmunireplk.engine.SafeCheckpointHook` stores as plain data,
``map_location`` devices, atomic writes, the ``--trust-checkpoint`` flag of
the tools, and the hook-up with mmengine's checkpoint loader.

The opt-in to full unpickling: ``trust=True`` in the Python API, the
``--trust-checkpoint`` flag of the tools, ``trust_checkpoint=True`` in the
backbone's ``init_cfg``, or the environment variable
``MMUNIREPLK_TRUST_CHECKPOINT=1`` (which the flag sets, so that every
process of a run honours it).
"""
import io
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader

from mmunireplk.models.pretrained import (TRUST_ENV, download_checkpoint,
                                          load_weights_file)
from .runner_state import RUNNER_STATE_KEYS, restore_runner_state

#: File backend name of :class:`AtomicLocalBackend` in mmengine.
ATOMIC_BACKEND = 'mmunireplk_atomic_local'


def set_trust_env(trust: bool) -> None:
    """Opt in (for this process and the ones it starts) if ``trust``."""
    if trust:
        os.environ[TRUST_ENV] = '1'


def add_trust_argument(parser) -> None:
    """Add the ``--trust-checkpoint`` flag that every tool shares."""
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='unpickle checkpoints in full, which can run arbitrary code: '
        'only for files you trust that do not load weights-only (sets '
        f'{TRUST_ENV}=1 for this run)')


def load_checkpoint_file(filename: str,
                         map_location='cpu',
                         trust: Optional[bool] = None) -> dict:
    """Read a local (or ``file://``) checkpoint, weights-only by default.

    Runner state that :class:`~mmunireplk.engine.SafeCheckpointHook` stored
    as plain data is turned back into mmengine objects (see
    :func:`restore_runner_state`). That needs the stored tensors on the
    CPU (numpy arrays, RNG states), so the file is read onto the CPU first
    and everything else is then moved to ``map_location``: mmengine's
    ``Runner.resume`` asks for the run's device (``'cuda'`` on a GPU).

    Args:
        filename (str): Path of the checkpoint.
        map_location: As for :func:`torch.load`. A device (str or
            :class:`torch.device`) is applied after the runner state is
            restored; a callable or dict is passed to :func:`torch.load`.
        trust (bool, optional): Unpickle in full (may run code). None
            defers to the ``MMUNIREPLK_TRUST_CHECKPOINT`` environment
            variable.

    Raises:
        FileNotFoundError: If the file does not exist.
        UnsafeCheckpointError: If the file needs a global outside
            :data:`SAFE_GLOBALS` and trust was not given.
        RuntimeError: If the file cannot be read as a checkpoint.
    """
    device = _as_device(map_location)
    checkpoint = load_weights_file(filename,
                                   'cpu' if device else map_location, trust)
    if not isinstance(checkpoint, dict):
        return _to_device(checkpoint, device)
    restore_runner_state(checkpoint)
    return {
        key: value if key in RUNNER_STATE_KEYS else _to_device(value, device)
        for key, value in checkpoint.items()
    }


def _as_device(map_location) -> Optional[torch.device]:
    """The device a ``map_location`` names, or None when it is a callable
    or a dict (or None / the CPU: nothing to move)."""
    if isinstance(map_location, (str, torch.device)):
        device = torch.device(map_location)
        return None if device.type == 'cpu' else device
    return None


def _to_device(value, device: Optional[torch.device]):
    """Tensors of nested dicts / lists / tuples moved to ``device``."""
    if device is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return type(value)((k, _to_device(v, device))
                           for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
        return type(value)(_to_device(v, device) for v in value)
    return value


def load_url_checkpoint(url: str,
                        map_location=None,
                        model_dir: Optional[str] = None,
                        trust: Optional[bool] = None) -> dict:
    """Download a checkpoint into torch's hub cache, then read it as
    :func:`load_checkpoint_file` does (weights-only by default).

    In a distributed run only the first process of each node downloads
    (``LOCAL_RANK`` 0); the others wait for it and read the cached file.
    """
    cached = download_checkpoint(url, model_dir)
    return load_checkpoint_file(cached, map_location, trust)


def read_checkpoint(filename: str,
                    map_location='cpu',
                    trust: Optional[bool] = None) -> dict:
    """Read a checkpoint from a local path, ``file://`` or an http(s) URL.

    Raises:
        TypeError: If the file does not hold a dict.
    """
    if filename.startswith(('http://', 'https://')):
        checkpoint = load_url_checkpoint(filename, map_location, trust=trust)
    else:
        checkpoint = load_checkpoint_file(filename, map_location, trust)
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{filename} holds a {type(checkpoint).__name__}, '
                        'not a checkpoint dict')
    return checkpoint


class AtomicLocalBackend(LocalBackend):
    """Local file backend whose writes are atomic (temp file + rename).

    An interrupted save never leaves a truncated checkpoint or
    ``last_checkpoint`` file behind.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically."""
        filepath = str(filepath)
        directory = osp.dirname(osp.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(
            prefix='.' + osp.basename(filepath) + '.', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_path, filepath)
        except BaseException:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        self.put(obj.encode(encoding), filepath)


def save_checkpoint_atomic(checkpoint: dict, filename: str) -> None:
    """``torch.save`` into a temporary file renamed into place."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    AtomicLocalBackend().put(buffer.getvalue(), filename)


def register_atomic_backend() -> None:
    """Register :class:`AtomicLocalBackend` as mmengine's file backend
    ``'mmunireplk_atomic_local'`` (a new name; nothing is replaced)."""
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def install_safe_loaders() -> None:
    """Make mmengine read local and http(s) checkpoints weights-only, in
    this process (idempotent).

    mmengine's checkpoint loaders for local paths (the ``''`` scheme) and
    ``http://`` / ``https://`` URLs become :func:`load_checkpoint_file` /
    :func:`load_url_checkpoint`: ``load_from`` and ``--resume`` then read
    weights-only with the minimal allow-list, restore plain runner state,
    and refuse anything else clearly. (mmengine 0.10.7 calls ``torch.load``
    without ``weights_only``; torch >= 2.6 then loads weights-only without
    the allow-list and fails on mmengine's own runner state.) Other schemes
    (``s3://``, ``openmmlab://`` ...) are left as they are.

    Called by :class:`~mmunireplk.engine.SafeCheckpointHook` when a config
    builds it (so mmdet's, mmseg's and mmpretrain's own tools get it with
    our configs) and by our tools; importing ``mmunireplk`` does not.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_checkpoint_file, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_url_checkpoint,
        force=True)
