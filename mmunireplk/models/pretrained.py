# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading weights: weights-only, with an explicit, logged opt-in.

Unpickling an arbitrary file can run any code, so :func:`load_weights_file`
uses torch's weights-only unpickler and allow-lists only
:data:`SAFE_GLOBALS`; a file that needs another global is refused with
:class:`UnsafeCheckpointError`. The opt-in: ``trust=True``,
``trust_checkpoint=True`` in an ``init_cfg``, ``--trust-checkpoint`` in the
tools, or ``MMUNIREPLK_TRUST_CHECKPOINT=1``.

The lowest layer of weight loading (it imports nothing of the package):
the backbone and :mod:`mmunireplk.checkpoint` build on it.
"""
import os
import os.path as osp
import pickle
from collections import OrderedDict
from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from torch import Tensor

StateDict = Dict[str, Tensor]
TRUST_ENV = 'MMUNIREPLK_TRUST_CHECKPOINT'
TRUST_HINT = (f'pass trust=True / --trust-checkpoint / init_cfg '
              f'trust_checkpoint=True, or set {TRUST_ENV}=1, only if you '
              'trust where the file comes from')
#: Wrappers used by training scripts around the state dict.
WRAPPER_KEYS = ('state_dict', 'model', 'module')


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
    names += [(np.dtype, 'numpy.dtype'), (np.ndarray, 'numpy.ndarray')]
    # Rebuilding a dtype checks its class (e.g. numpy.dtypes.Float64DType).
    for code in '? i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 c8 c16 U S'.split():
        cls = type(np.dtype(code))
        names.append((cls, f'numpy.dtypes.{cls.__name__}'))
    return names


#: The only globals allowed besides torch's: numpy scalars, dtypes and arrays
#: (e.g. in the ``meta`` of mmcv 1.x runner checkpoints). None calls code of
#: the file's choosing: object-array elements go through the same unpickler.
SAFE_GLOBALS: List[Tuple[Callable, str]] = _numpy_safe_globals()
SAFE_GLOBAL_NAMES = frozenset(name for _, name in SAFE_GLOBALS)


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs globals that weights-only loading does not allow
    (``unsafe``: their names, maybe empty; ``detail``: torch's message)."""

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


def _unsafe_globals(path: str) -> List[str]:
    """The globals of a zip-format checkpoint outside the allow-list."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) format, or unreadable
        return []
    return sorted(set(names) - SAFE_GLOBAL_NAMES)


def load_weights_file(filename: str,
                      map_location='cpu',
                      trust: Optional[bool] = None) -> object:
    """Read a local (or ``file://``) checkpoint, weights-only by default.

    Args:
        filename (str): Path of the checkpoint.
        map_location: As for :func:`torch.load`.
        trust (bool, optional): Unpickle in full (may run code); None
            defers to ``MMUNIREPLK_TRUST_CHECKPOINT``.

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
    try:
        if trust:
            print_log(f'Loading {filename} with full unpickling (trusted by '
                      'explicit opt-in): it may run code', logger='current')
            return torch.load(
                path, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(
                path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(filename, _unsafe_globals(path),
                                    str(error)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise RuntimeError(f'Cannot read checkpoint {filename}: {error} '
                           '(truncated or not a torch checkpoint?)') from None


def download_checkpoint(url: str, model_dir: Optional[str] = None) -> str:
    """Download ``url`` into torch's hub cache (once) and return the path;
    in a distributed run only ``LOCAL_RANK`` 0 downloads, the others wait."""
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
    return cached


def read_weights(filename: str,
                 map_location='cpu',
                 trust: Optional[bool] = None,
                 load: Callable[..., object] = load_weights_file) -> dict:
    """Read a checkpoint dict from a local path, ``file://`` or an http(s)
    URL (downloaded first) with ``load``; TypeError if it is no dict."""
    path = filename
    if filename.startswith(('http://', 'https://')):
        path = download_checkpoint(filename)
    checkpoint = load(path, map_location, trust)
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{filename} holds a {type(checkpoint).__name__}, '
                        'not a checkpoint dict')
    return checkpoint


def unwrap_state_dict(checkpoint: Mapping) -> StateDict:
    """Return the tensor dict inside a ``state_dict``/``model`` wrapper."""
    state_dict = checkpoint
    for key in WRAPPER_KEYS:
        if isinstance(state_dict, Mapping) and isinstance(
                state_dict.get(key), Mapping):
            state_dict = state_dict[key]
            break
    if not isinstance(state_dict, Mapping):
        raise TypeError(f'A checkpoint must be a dict of tensors, got '
                        f'{type(state_dict)}')
    return state_dict


def strip_prefix(state_dict: Mapping[str, Tensor], prefix: str) -> StateDict:
    """Keep the keys under ``prefix``, with it removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def short_list(names: Iterable[str], limit: int = 8) -> str:
    """``'a, b, c, ... (+N more)'``."""
    names = list(names)
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... (+{len(names) - limit} more)'
    return shown


def shape_mismatches(model_state: Mapping[str, Tensor],
                     state_dict: Mapping[str, Tensor]) -> List[str]:
    """``'key (file SHAPE, model SHAPE)'`` for each differing shared key."""
    return [
        f'{k} (file {tuple(v.shape)}, model {tuple(model_state[k].shape)})'
        for k, v in state_dict.items()
        if k in model_state and v.shape != model_state[k].shape
    ]
