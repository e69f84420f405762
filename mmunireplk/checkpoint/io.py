# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading checkpoints weights-only and writing them atomically.

A checkpoint is untrusted input: unpickling an arbitrary file can run any
code. :func:`load_checkpoint_file` therefore reads with torch's weights-only
unpickler and allow-lists only :data:`SAFE_GLOBALS` (numpy scalars, dtypes
and arrays, which the ``meta`` of mmdet 2.x / mmseg 0.x runner checkpoints
may hold). A file that needs any other global is refused with
:class:`UnsafeCheckpointError`, which names the globals and the opt-in.

The opt-in is explicit and logged: ``trust=True`` in the Python API, the
``--trust-checkpoint`` flag of the tools, ``trust_checkpoint=True`` in the
backbone's ``init_cfg``, or the environment variable
``MMUNIREPLK_TRUST_CHECKPOINT=1`` (which the flag sets, so that every
process of a run honours it).
"""
import io
import os
import os.path as osp
import pickle
import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .runner_state import RUNNER_STATE_KEYS, restore_runner_state

TRUST_ENV = 'MMUNIREPLK_TRUST_CHECKPOINT'
#: File backend name of :class:`AtomicLocalBackend` in mmengine.
ATOMIC_BACKEND = 'mmunireplk_atomic_local'
TRUST_HINT = (f'pass trust=True / --trust-checkpoint / init_cfg '
              f'trust_checkpoint=True, or set {TRUST_ENV}=1, only if you '
              'trust where the file comes from')


def _numpy_safe_globals() -> List[Tuple[Callable, str]]:
    """numpy scalars, dtypes and plain arrays, under the names numpy 1.x
    and 2.x pickle them with (``numpy.core`` became ``numpy._core``)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    names = []
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        names += [(multiarray.scalar, f'{module}.scalar'),
                  (multiarray._reconstruct, f'{module}._reconstruct')]
    # Rebuilding a dtype checks its class (e.g. numpy.dtypes.Float64DType).
    dtype_classes = [
        type(np.dtype(code)) for code in ('?', 'i1', 'i2', 'i4', 'i8', 'u1',
                                          'u2', 'u4', 'u8', 'f2', 'f4', 'f8',
                                          'c8', 'c16', 'U', 'S')
    ]
    return names + [(np.dtype, 'numpy.dtype'),
                    (np.ndarray, 'numpy.ndarray')] + [
                        (cls, f'numpy.dtypes.{cls.__name__}')
                        for cls in dtype_classes
                    ]


#: The only globals the weights-only unpickler may resolve besides torch's
#: own: numpy scalars, dtypes and arrays (e.g. a ``best_score`` or a
#: ``PALETTE`` in the ``meta`` of an mmcv 1.x runner checkpoint). None of
#: them calls code of the file's choosing: the elements of an object array
#: are themselves unpickled by the same restricted unpickler.
SAFE_GLOBALS: List[Tuple[Callable, str]] = _numpy_safe_globals()
SAFE_GLOBAL_NAMES = frozenset(name for _, name in SAFE_GLOBALS)


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs globals that weights-only loading does not allow.

    Args:
        filename (str): The checkpoint.
        unsafe (Sequence[str]): The globals it needs (may be empty when
            they could not be listed).
        detail (str): torch's own message.
    """

    def __init__(self, filename: str, unsafe: Sequence[str],
                 detail: str = '') -> None:
        self.filename = filename
        self.unsafe = list(unsafe)
        names = ', '.join(self.unsafe) or _torch_reason(detail)
        super().__init__(
            f'Refusing to load {filename}: it is not weights-only, and '
            f'unpickling it would import and call {names}, which can run '
            f'arbitrary code. To load it anyway, {TRUST_HINT}.')


def _torch_reason(detail: str) -> str:
    """The line of torch's weights-only error that says what failed."""
    for line in detail.splitlines():
        if 'global' in line.lower() or 'can only build' in line.lower():
            return line.strip()
    return detail.strip().splitlines()[0] if detail.strip() else 'unknown'


def trust_from_env() -> bool:
    """Whether ``MMUNIREPLK_TRUST_CHECKPOINT`` opts in to full unpickling."""
    value = os.environ.get(TRUST_ENV, '').strip().lower()
    return value in ('1', 'true', 'yes', 'on')


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


def _unsafe_globals(path: str) -> List[str]:
    """The globals of a zip-format checkpoint outside the allow-list."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) format, or unreadable
        return []
    return sorted(set(names) - SAFE_GLOBAL_NAMES)


def _torch_load(source: Union[str, io.BytesIO], map_location,
                trust: bool) -> object:
    if trust:
        return torch.load(source, map_location=map_location,
                          weights_only=False)
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        return torch.load(source, map_location=map_location,
                          weights_only=True)


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
    if filename.startswith('file://'):
        filename = filename[len('file://'):]
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {filename!r}')
    if trust is None:
        trust = trust_from_env()
    if trust:
        print_log(f'Loading {filename} with full unpickling (trusted by '
                  'explicit opt-in): it may run code', logger='current')
    device = _as_device(map_location)
    try:
        checkpoint = _torch_load(path, 'cpu' if device else map_location,
                                 trust)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(filename, _unsafe_globals(path),
                                    str(error)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise RuntimeError(f'Cannot read checkpoint {filename}: {error} '
                           '(truncated or not a torch checkpoint?)') from None
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
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(url.split('?')[0]))
    rank, world_size = get_dist_info()
    downloads = int(os.environ.get('LOCAL_RANK', rank)) == 0
    error: Optional[BaseException] = None
    if downloads and not osp.isfile(cached):
        os.makedirs(model_dir, exist_ok=True)
        print_log(f'Downloading {url} to {cached}', logger='current')
        try:
            # writes a temporary file and renames it into place
            torch.hub.download_url_to_file(url, cached, progress=True)
        except Exception as err:  # the others must not wait forever
            error = err
    if world_size > 1:
        barrier()
    if error is not None:
        raise error
    if not osp.isfile(cached):
        raise RuntimeError(f'{url} was not downloaded to {cached} by the '
                           'first process of this node (see its log)')
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
