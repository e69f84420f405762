# Copyright (c) mmunireplk contributors. All rights reserved.
"""Runner state of mmengine checkpoints as plain data, and back.

``HistoryBuffer`` scalars (pickled through ``getattr``), numpy values and RNG
states do not load weights-only; :func:`runner_state_to_plain` stores them
as tensors, numbers and containers, :func:`restore_runner_state` gives
``Runner.resume`` the original objects back (same values and dtypes).
"""
import random
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

#: Marks a message-hub state dict stored as plain data (format version).
PLAIN_HUB_KEY = 'mmunireplk_plain'
#: Top-level checkpoint key of the RNG states.
RNG_STATE_KEY = 'rng_state'
#: Top-level checkpoint keys of runner state, restored on the CPU.
RUNNER_STATE_KEYS = ('message_hub', 'meta', RNG_STATE_KEY)
_ARRAY_KEY = '__ndarray__'


def _array_to_plain(array: np.ndarray) -> dict:
    unsigned = (np.uint8, np.uint16, np.uint32)
    if array.dtype.kind in 'bif' or array.dtype in unsigned:
        # torch has few unsigned types: widen exactly to int64
        wide = array.astype(np.int64) if array.dtype.kind == 'u' and \
            array.dtype != np.uint8 else array
        data = torch.from_numpy(np.ascontiguousarray(wide)).clone()
    else:
        data = array.tolist()
    return {_ARRAY_KEY: data, 'dtype': array.dtype.str,
            'shape': list(array.shape)}


def _array_from_plain(value: dict) -> np.ndarray:
    data = value[_ARRAY_KEY]
    if isinstance(data, torch.Tensor):
        data = data.cpu().numpy()
    return np.asarray(data, dtype=np.dtype(value['dtype'])).reshape(
        value['shape'])


def map_leaves(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` applied to the leaves of nested dicts, lists and tuples (of the
    same types; named tuples are leaves)."""
    if isinstance(value, dict):
        return type(value)((k, map_leaves(v, fn)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
        return type(value)(map_leaves(v, fn) for v in value)
    return fn(value)


def _leaf_to_plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _array_to_plain(value)
    return value.item() if isinstance(value, np.generic) else value


def to_plain(value: Any) -> Any:
    """numpy arrays become marked tensors / lists, numpy scalars numbers,
    recursively (tuples stay tuples)."""
    return map_leaves(value, _leaf_to_plain)


def from_plain(value: Any) -> Any:
    """Undo :func:`to_plain` for arrays."""
    if isinstance(value, dict):
        if _ARRAY_KEY in value:
            return _array_from_plain(value)
        return type(value)((k, from_plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
        return type(value)(from_plain(v) for v in value)
    return value


def get_rng_state() -> dict:
    """This process's python, numpy, torch (and current CUDA device's) RNG
    states as plain data."""
    state = dict(
        python=random.getstate(),
        numpy=to_plain(np.random.get_state()),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned (the CUDA state to the
    current device; older files held a list, one state per device)."""
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    np.random.set_state(from_plain(state['numpy']))
    torch.set_rng_state(_cpu_byte_tensor(state['torch']))
    cuda = state.get('cuda')
    if cuda is None or not torch.cuda.is_available():
        return
    if isinstance(cuda, (list, tuple)):
        index = torch.cuda.current_device()
        if index >= len(cuda):
            return
        cuda = cuda[index]
    torch.cuda.set_rng_state(_cpu_byte_tensor(cuda))


def _cpu_byte_tensor(value: torch.Tensor) -> torch.Tensor:
    """torch's RNG setters take CPU uint8 tensors only."""
    return value.to(device='cpu', dtype=torch.uint8)


def rank_rng_states(states: List[dict]) -> dict:
    """The RNG entry of a checkpoint: one state per process of the run."""
    return dict(world_size=len(states), ranks=list(states))


def rng_state_of_rank(entry: dict, rank: int,
                      world_size: int) -> Tuple[Optional[dict], str]:
    """The state that process ``rank`` of ``world_size`` restores from a
    checkpoint's RNG entry, or None and the reason.

    An entry of another world size does not apply: the draws would differ
    from the uninterrupted run anyway, and one state for all processes would
    make their augmentations identical. A bare state (older single-process
    files) counts as world size 1.
    """
    if 'ranks' in entry:
        saved_size, states = entry['world_size'], entry['ranks']
    else:
        saved_size, states = 1, [entry]
    if saved_size != world_size:
        return None, (f'the checkpoint holds the RNG states of {saved_size} '
                      f'process(es), this run has {world_size}')
    return states[rank], ''


def runner_state_to_plain(checkpoint: dict) -> dict:
    """Make a runner checkpoint (message hub, ``meta``) loadable
    weights-only, in place; returns ``checkpoint``."""
    hub: Optional[dict] = checkpoint.get('message_hub')
    if isinstance(hub, dict) and PLAIN_HUB_KEY not in hub:
        scalars: Dict[str, Any] = {}
        for key, buffer in hub.get('log_scalars', {}).items():
            if hasattr(buffer, 'data') and hasattr(buffer, 'max_length'):
                log_history, count_history = buffer.data
                buffer = dict(
                    log_history=_array_to_plain(np.asarray(log_history)),
                    count_history=_array_to_plain(np.asarray(count_history)),
                    max_length=buffer.max_length)
            scalars[key] = buffer
        checkpoint['message_hub'] = {
            PLAIN_HUB_KEY: 1,
            'log_scalars': scalars,
            'runtime_info': to_plain(dict(hub.get('runtime_info', {}))),
            'resumed_keys': dict(hub.get('resumed_keys', {})),
        }
    if isinstance(checkpoint.get('meta'), dict):
        checkpoint['meta'] = to_plain(checkpoint['meta'])
    return checkpoint


def restore_runner_state(checkpoint: dict) -> dict:
    """Undo :func:`runner_state_to_plain` in place; returns
    ``checkpoint``."""
    if isinstance(checkpoint.get('meta'), dict):
        checkpoint['meta'] = from_plain(checkpoint['meta'])
    hub = checkpoint.get('message_hub')
    if not (isinstance(hub, dict) and PLAIN_HUB_KEY in hub):
        return checkpoint
    scalars = {}
    for key, value in hub['log_scalars'].items():
        if isinstance(value, dict) and 'log_history' in value:
            value = HistoryBuffer(
                _array_from_plain(value['log_history']),
                _array_from_plain(value['count_history']),
                value['max_length'])
        scalars[key] = value
    checkpoint['message_hub'] = dict(
        log_scalars=scalars,
        runtime_info=from_plain(hub['runtime_info']),
        resumed_keys=hub['resumed_keys'])
    return checkpoint


def to_builtin(value: Any) -> Any:
    """numpy / torch scalars as numbers, arrays and tuples as lists, dict
    keys as strings, recursively (for JSON and weights-only loading)."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, 'item') and getattr(value, 'ndim', 0) == 0:
        return value.item()
    if hasattr(value, 'tolist'):
        return value.tolist()
    return value
