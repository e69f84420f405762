# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading UniRepLKNet checkpoints and loading them into the backbone."""
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, Iterable, Optional

import torch
import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.runner.checkpoint import CheckpointLoader

# Keys of the ImageNet classifier that the backbone does not have.
CLASSIFIER_PREFIXES = ('norm.', 'head.')
# Wrappers used by training scripts around the state dict.
WRAPPER_KEYS = ('state_dict', 'model', 'module')


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Read a local checkpoint: weights-only first, in full if needed.

    torch >= 2.6 loads with ``weights_only=True``. A file that also pickles
    Python objects (runner checkpoints with ``meta`` or the message hub's
    ``HistoryBuffer``) is then read in full, since the user named it.

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {filename!r}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        print_log(
            f'{filename} holds Python objects besides tensors; loading it '
            'in full as a file you chose to trust',
            logger='current')
        return torch.load(
            path, map_location=map_location, weights_only=False)


def load_checkpoint_file(filename: str,
                         map_location: str = 'cpu') -> dict:
    """Read a checkpoint from a local path (or ``file://``) or a URL."""
    if filename.startswith('file://'):
        filename = filename[len('file://'):]
    if '://' in filename:
        return CheckpointLoader.load_checkpoint(filename, map_location)
    return load_local_checkpoint(filename, map_location)


def unwrap_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """Return the tensor dict inside a ``state_dict``/``model`` wrapper."""
    state_dict = checkpoint
    for key in WRAPPER_KEYS:
        if isinstance(state_dict, dict) and isinstance(
                state_dict.get(key), dict):
            state_dict = state_dict[key]
            break
    if not isinstance(state_dict, dict):
        raise TypeError(f'A checkpoint must be a dict of tensors, got '
                        f'{type(state_dict)}')
    return state_dict


def strip_prefix(state_dict: Dict[str, torch.Tensor],
                 prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    """Keep the keys under ``prefix``, with it removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def extract_backbone_state_dict(
        checkpoint: dict,
        prefix: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """Get the backbone weights out of any supported checkpoint layout.

    Accepts a raw state dict or one wrapped in ``state_dict`` / ``model``,
    with or without ``module.`` (DDP) and ``backbone.`` (detector or
    segmentor) prefixes. ImageNet classifier keys (``norm.*``, ``head.*``)
    are dropped.

    Args:
        checkpoint (dict): The loaded checkpoint.
        prefix (str, optional): Take only keys under this prefix. By default
            ``backbone.`` is used when any key carries it.
    """
    state_dict = OrderedDict(unwrap_state_dict(checkpoint))
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = strip_prefix(state_dict, 'module.')
    if prefix is None and any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'
    if prefix:
        if not prefix.endswith('.'):
            prefix += '.'
        state_dict = strip_prefix(state_dict, prefix)
        if not state_dict:
            raise KeyError(f'No checkpoint key starts with {prefix!r}')
    return OrderedDict((k, v) for k, v in state_dict.items()
                       if not k.startswith(CLASSIFIER_PREFIXES))


def checkpoint_form(state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """``'deploy'``, ``'training'`` or None (undecidable) for a state dict."""
    if any(k.endswith('pwconv2.0.bias') for k in state_dict):
        return 'deploy'
    if any(k.endswith('pwconv2.2.weight') or '.origin_bn.' in k
           for k in state_dict):
        return 'training'
    return None


def _short_list(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... (+{len(names) - limit} more)'
    return shown


def load_backbone_state_dict(model: nn.Module,
                             state_dict: Dict[str, torch.Tensor],
                             source: str = 'checkpoint',
                             logger: Optional[MMLogger] = None) -> None:
    """Load backbone weights with checks and one readable summary log.

    Raises:
        RuntimeError: If the checkpoint is in the deploy form and the model
            in the training form or vice versa, or no key matches at all.
        ValueError: If shapes differ (every mismatching key is named).
    """
    logger = logger or MMLogger.get_current_instance()
    model_state = model.state_dict()
    model_form = checkpoint_form(model_state)
    ckpt_form = checkpoint_form(state_dict)
    if model_form and ckpt_form and model_form != ckpt_form:
        if ckpt_form == 'deploy':
            message = (f'{source} is in the deploy (re-parameterised) form '
                       'but the model is in the training form: build the '
                       'backbone with deploy=True to load it')
        else:
            message = (f'{source} is in the training form but the model is '
                       'in the deploy (re-parameterised) form: build it with '
                       'deploy=False, load the weights, then call '
                       'switch_to_deploy()')
        raise RuntimeError(message)

    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(model_state[k].shape)}' for k, v in state_dict.items()
        if k in model_state and v.shape != model_state[k].shape
    ]
    if mismatched:
        raise ValueError(f'Shape mismatch between {source} and the model:\n  '
                         + '\n  '.join(mismatched))
    matched = [k for k in state_dict if k in model_state]
    if not matched:
        raise RuntimeError(
            f'No key of {source} matches the model (checkpoint keys look like '
            f'{_short_list(state_dict, 3)}; model keys like '
            f'{_short_list(model_state, 3)})')

    result = model.load_state_dict(state_dict, strict=False)
    lines = [f'Loaded {len(matched)}/{len(model_state)} tensors from {source}']
    if result.missing_keys:
        lines.append(f'missing in checkpoint, left initialised '
                     f'({len(result.missing_keys)}): '
                     f'{_short_list(result.missing_keys)}')
    if result.unexpected_keys:
        lines.append(f'unexpected in checkpoint, ignored '
                     f'({len(result.unexpected_keys)}): '
                     f'{_short_list(result.unexpected_keys)}')
    logger.info('\n  '.join(lines))


def load_pretrained_backbone(model: nn.Module,
                             filename: str,
                             prefix: Optional[str] = None,
                             map_location: str = 'cpu') -> None:
    """Load a public or self-trained checkpoint into a UniRepLKNet backbone.

    Args:
        model (nn.Module): The backbone.
        filename (str): Local path or URL of the checkpoint.
        prefix (str, optional): Only load keys under this prefix (stripped).
            Defaults to ``backbone.`` when present, else all keys.
        map_location (str): Where to load tensors. Defaults to 'cpu'.
    """
    checkpoint = load_checkpoint_file(filename, map_location)
    state_dict = extract_backbone_state_dict(checkpoint, prefix)
    load_backbone_state_dict(model, state_dict, source=filename)
