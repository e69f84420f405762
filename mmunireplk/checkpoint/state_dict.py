# Copyright (c) mmunireplk contributors. All rights reserved.
"""Loading whole-model weights strictly, with one error that says what
does not fit."""
from typing import Dict, Sequence

import torch.nn as nn

from mmunireplk.models.backbones.unireplknet import UniRepLKNet
from mmunireplk.models.pretrained import (StateDict, shape_mismatches,
                                          short_list)


def _by_module(keys: Sequence[str]) -> str:
    """``N keys (under neck.: 20, roi_head.: 150), e.g. k1, k2, k3``."""
    groups: Dict[str, int] = {}
    for key in keys:
        top = key.split('.')[0] + '.'
        groups[top] = groups.get(top, 0) + 1
    under = ', '.join(f'{g}: {n}' for g, n in groups.items())
    return f'{len(keys)} keys (under {under}), e.g. {short_list(keys, 3)}'


class StateDictMismatchError(ValueError, RuntimeError):
    """Weights that do not fit a model exactly (a ``ValueError`` and, as
    ``load_state_dict(strict=True)`` raises, a ``RuntimeError``)."""


def load_strict(model: nn.Module,
                state_dict: StateDict,
                source: str = 'the checkpoint',
                target: str = 'the model') -> None:
    """Load ``state_dict`` into ``model`` strictly, or raise one error naming
    the missing, unexpected and mismatched keys by module.

    Raises:
        RuntimeError: For a deploy-form file and a training-form model or
            the reverse.
        StateDictMismatchError: If the weights do not fit the model.
    """
    model_state = model.state_dict()
    UniRepLKNet.check_forms(model_state, state_dict, source)
    missing = [k for k in model_state if k not in state_dict]
    unexpected = [k for k in state_dict if k not in model_state]
    shapes = shape_mismatches(model_state, state_dict)
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
                     f'{short_list(shapes, 4)}')
    prefixes = sorted({k.split('.')[0] + '.' for k in model_state})
    if not any(k.startswith(tuple(prefixes)) for k in state_dict):
        hint = ('no key of the file starts with the model\'s '
                f'{short_list(prefixes)}: a public ImageNet file is '
                'converted for a classifier with tools/model_converters/ and '
                'is a model.backbone.init_cfg for a detector or segmentor')
    else:
        hint = ('public mmdet 2.x / mmseg 0.x checkpoints must be converted '
                'first with tools/model_converters/')
    raise StateDictMismatchError(f'{source} does not fit {target}: ' +
                                 '; '.join(parts) + f' ({hint})')
