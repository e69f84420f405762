# Copyright (c) mmunireplk contributors. All rights reserved.
"""Runner checkpoints read weights-only (on top of
:mod:`mmunireplk.models.pretrained`: plain runner state restored, devices
applied), written atomically, and hooked up with mmengine's loaders."""
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
                                          load_weights_file, read_weights)
from .runner_state import (RUNNER_STATE_KEYS, map_leaves,
                           restore_runner_state)

#: File backend name of :class:`AtomicLocalBackend` in mmengine.
ATOMIC_BACKEND = 'mmunireplk_atomic_local'


def set_trust_env(trust: bool) -> None:
    """Opt in (for this process and the ones it starts) if ``trust``: the
    ``MMUNIREPLK_TRUST_CHECKPOINT`` variable reaches every process."""
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
    """:func:`~mmunireplk.models.pretrained.load_weights_file` plus the
    runner state that :class:`~mmunireplk.engine.SafeCheckpointHook` stored
    as plain data, turned back into mmengine objects.

    Restoring needs the tensors on the CPU, so the file is read onto the
    CPU and the rest is moved to a device ``map_location`` afterwards
    (``Runner.resume`` asks for ``'cuda'`` on a GPU); a callable or dict
    ``map_location`` goes to :func:`torch.load`.
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
    """The non-CPU device a ``map_location`` names, else None."""
    if isinstance(map_location, (str, torch.device)):
        device = torch.device(map_location)
        return None if device.type == 'cpu' else device
    return None


def _to_device(value, device: Optional[torch.device]):
    """Tensors of nested dicts / lists / tuples moved to ``device``."""
    if device is None:
        return value
    return map_leaves(
        value, lambda v: v.to(device) if isinstance(v, torch.Tensor) else v)


def load_url_checkpoint(url: str,
                        map_location=None,
                        model_dir: Optional[str] = None,
                        trust: Optional[bool] = None) -> dict:
    """Download a checkpoint into torch's hub cache (only ``LOCAL_RANK`` 0
    downloads), then read it with :func:`load_checkpoint_file`."""
    cached = download_checkpoint(url, model_dir)
    return load_checkpoint_file(cached, map_location, trust)


def read_checkpoint(filename: str,
                    map_location='cpu',
                    trust: Optional[bool] = None) -> dict:
    """Read a checkpoint dict from a local path, ``file://`` or an http(s)
    URL with :func:`load_checkpoint_file`; TypeError if it is no dict."""
    return read_weights(filename, map_location, trust, load_checkpoint_file)


class AtomicLocalBackend(LocalBackend):
    """Local file backend whose writes are atomic (temp file + rename): an
    interrupted save leaves no truncated checkpoint behind."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
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
        self.put(obj.encode(encoding), filepath)


def save_checkpoint_atomic(checkpoint: dict, filename: str) -> None:
    """``torch.save`` into a temporary file renamed into place."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    AtomicLocalBackend().put(buffer.getvalue(), filename)


def register_atomic_backend() -> None:
    """Register :class:`AtomicLocalBackend` as mmengine's file backend
    :data:`ATOMIC_BACKEND` (a new name; nothing is replaced)."""
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def install_safe_loaders() -> None:
    """Make mmengine read local and http(s) checkpoints with
    :func:`load_checkpoint_file` / :func:`load_url_checkpoint`, in this
    process (idempotent); other schemes are left alone.

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, which
    torch >= 2.6 turns into weights-only loading without our allow-list, so
    mmengine's own runner state fails to load. Called by
    :class:`~mmunireplk.engine.SafeCheckpointHook` (so upstream tools get it
    with our configs) and by our tools; importing ``mmunireplk`` does not.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_checkpoint_file, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_url_checkpoint,
        force=True)
