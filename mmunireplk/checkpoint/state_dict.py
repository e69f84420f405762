# Copyright (c) mmunireplk contributors. All rights reserved.
"""Finding the backbone weights in a checkpoint and loading them."""
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmunireplk.models.backbones.unireplknet import (is_backbone_key,
                                                     state_dict_form)
from .io import read_checkpoint

StateDict = Dict[str, torch.Tensor]
# Wrappers used by training scripts around the state dict.
WRAPPER_KEYS = ('state_dict', 'model', 'module')


def unwrap_state_dict(checkpoint: dict) -> StateDict:
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


def strip_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Keep the keys under ``prefix``, with it removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def extract_backbone_state_dict(checkpoint: dict,
                                prefix: Optional[str] = None) -> StateDict:
    """Get the UniRepLKNet weights out of any supported checkpoint layout.

    Accepts a raw state dict or one wrapped in ``state_dict`` / ``model``,
    with or without ``module.`` (DDP) and ``backbone.`` (detector,
    segmentor or mmpretrain classifier) prefixes. Keys that are not the
    backbone's (see :func:`is_backbone_key`), e.g. the ImageNet classifier's
    ``norm.*`` / ``head.*``, are dropped.

    Args:
        checkpoint (dict): The loaded checkpoint.
        prefix (str, optional): Take only keys under this prefix. By default
            ``backbone.`` is used when any key carries it.

    Raises:
        KeyError: If no key is under ``prefix``.
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
    return OrderedDict(
        (k, v) for k, v in state_dict.items() if is_backbone_key(k))


def _short_list(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... (+{len(names) - limit} more)'
    return shown


def _check_forms(model_state: StateDict, state_dict: StateDict,
                 source: str) -> None:
    model_form = state_dict_form(model_state)
    ckpt_form = state_dict_form(state_dict)
    if not (model_form and ckpt_form and model_form != ckpt_form):
        return
    if ckpt_form == 'deploy':
        raise RuntimeError(f'{source} is in the deploy (re-parameterised) '
                           'form but the model is in the training form: '
                           'build the backbone with deploy=True to load it')
    raise RuntimeError(f'{source} is in the training form but the model is '
                       'in the deploy (re-parameterised) form: build it with '
                       'deploy=False, load the weights, then call '
                       'switch_to_deploy()')


def _shape_mismatches(model_state: StateDict, state_dict: StateDict) -> list:
    return [
        f'{k} (file {tuple(v.shape)}, model {tuple(model_state[k].shape)})'
        for k, v in state_dict.items()
        if k in model_state and v.shape != model_state[k].shape
    ]


def _by_module(keys: Sequence[str]) -> str:
    """``N keys (under neck.: 20, roi_head.: 150), e.g. k1, k2, k3``."""
    groups: Dict[str, int] = {}
    for key in keys:
        top = key.split('.')[0] + '.'
        groups[top] = groups.get(top, 0) + 1
    under = ', '.join(f'{g}: {n}' for g, n in groups.items())
    return f'{len(keys)} keys (under {under}), e.g. {_short_list(keys, 3)}'


class StateDictMismatchError(ValueError, RuntimeError):
    """Weights that do not fit a model exactly (a ``ValueError`` and, as
    ``load_state_dict(strict=True)`` raises, a ``RuntimeError``)."""


def load_strict(model: nn.Module,
                state_dict: StateDict,
                source: str = 'the checkpoint',
                target: str = 'the model') -> None:
    """Load ``state_dict`` into ``model`` with ``strict=True``; on failure
    raise one error that names the form, missing, unexpected and
    shape-mismatched keys (grouped by module), ``source`` and ``target``.

    Raises:
        RuntimeError: For a deploy-form file and a training-form model or
            the reverse.
        StateDictMismatchError: If the weights do not fit the model.
    """
    model_state = model.state_dict()
    _check_forms(model_state, state_dict, source)
    missing = [k for k in model_state if k not in state_dict]
    unexpected = [k for k in state_dict if k not in model_state]
    shapes = _shape_mismatches(model_state, state_dict)
    if not (missing or unexpected or shapes):
        model.load_state_dict(state_dict, strict=True)
        return
    parts = []
    if missing:
        parts.append('missing from the file: ' + _by_module(missing))
    if unexpected:
        parts.append('not in the model: ' + _by_module(unexpected))
    if shapes:
        parts.append(f'{len(shapes)} keys differ in shape: '
                     f'{_short_list(shapes, 4)}')
    prefixes = sorted({k.split('.')[0] + '.' for k in model_state})
    if not any(k.startswith(tuple(prefixes)) for k in state_dict):
        hint = ('no key of the file starts with the model\'s '
                f'{_short_list(prefixes)}: a public ImageNet file is '
                'converted for a classifier with tools/model_converters/ and '
                'is a model.backbone.init_cfg for a detector or segmentor')
    else:
        hint = ('public mmdet 2.x / mmseg 0.x checkpoints must be converted '
                'first with tools/model_converters/')
    raise StateDictMismatchError(f'{source} does not fit {target}: ' +
                                 '; '.join(parts) + f' ({hint})')


def load_backbone_state_dict(model: nn.Module,
                             state_dict: StateDict,
                             source: str = 'checkpoint',
                             logger: Optional[MMLogger] = None) -> None:
    """Load backbone weights with checks and one readable summary log.

    Missing or unexpected keys are allowed (and logged); a form or shape
    mismatch, or no matching key at all, is an error.

    Raises:
        RuntimeError: If the checkpoint is in the deploy form and the model
            in the training form or vice versa, or no key matches at all.
        ValueError: If shapes differ (every mismatching key is named).
    """
    logger = logger or MMLogger.get_current_instance()
    model_state = model.state_dict()
    _check_forms(model_state, state_dict, source)
    mismatched = _shape_mismatches(model_state, state_dict)
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
                             map_location: str = 'cpu',
                             trust: Optional[bool] = None) -> None:
    """Load a public or self-trained checkpoint into a UniRepLKNet backbone.

    Args:
        model (nn.Module): The backbone.
        filename (str): Local path or http(s) URL of the checkpoint.
        prefix (str, optional): Only load keys under this prefix (stripped).
            Defaults to ``backbone.`` when present, else all keys.
        map_location (str): Where to load tensors. Defaults to 'cpu'.
        trust (bool, optional): Unpickle in full (see
            :func:`~mmunireplk.checkpoint.load_checkpoint_file`).
    """
    checkpoint = read_checkpoint(filename, map_location, trust)
    state_dict = extract_backbone_state_dict(checkpoint, prefix)
    load_backbone_state_dict(model, state_dict, source=filename)
