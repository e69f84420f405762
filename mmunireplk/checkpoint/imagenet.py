# Copyright (c) mmunireplk contributors. All rights reserved.
"""The public UniRepLKNet ImageNet checkpoints and mmpretrain's layout.

The public files hold un-prefixed backbone keys (``downsample_layers.*``,
``stages.*``) and the classifier ``norm.*`` / ``head.*``; an mmpretrain
``ImageClassifier`` with :class:`mmunireplk.cls.UniRepLKNetClsHead` has the
same tensors under ``backbone.``, ``head.norm.`` and ``head.head.``.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

from mmunireplk.models.backbones.unireplknet import UniRepLKNet, infer_arch
from .convert import (ConversionReport, split_runner_checkpoint,
                      strip_ddp_prefix)

StateDict = Dict[str, torch.Tensor]

BACKBONE_PREFIXES = ('downsample_layers.', 'stages.')
# public prefix -> mmpretrain prefix, in the order keys are written
KEY_MAP: Tuple[Tuple[str, str], ...] = (
    ('downsample_layers.', 'backbone.downsample_layers.'),
    ('stages.', 'backbone.stages.'),
    ('norm.', 'head.norm.'),
    ('head.', 'head.head.'),
)
CLASSIFIER_KEYS = ('norm.weight', 'norm.bias', 'head.weight', 'head.bias')


def _public_state_dict(checkpoint: dict,
                       report: Optional[ConversionReport] = None
                       ) -> StateDict:
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint must be a dict, got '
                        f'{type(checkpoint).__name__}')
    state_dict, _ = split_runner_checkpoint(checkpoint, report)
    return strip_ddp_prefix(state_dict, report)


def describe_arch(state_dict: StateDict) -> str:
    """A short name of the UniRepLKNet size of un-prefixed weights, e.g.
    ``'atto (depths (2, 2, 6, 2), dims (40, 80, 160, 320))'``."""
    try:
        arch = infer_arch(state_dict)['arch']
    except KeyError:
        return 'unknown size'
    depths, dims = tuple(arch['depths']), tuple(arch['dims'])
    name = next((n for n, a in UniRepLKNet.arch_settings.items()
                 if (tuple(a['depths']), tuple(a['dims'])) == (depths, dims)),
                'custom')
    return f'{name} (depths {depths}, dims {dims})'


def is_public_imagenet_layout(checkpoint: dict) -> bool:
    """Whether a checkpoint (or its state dict) is in the public layout:
    un-prefixed backbone keys and the classifier ``norm.*`` / ``head.*``,
    no ``backbone.`` keys."""
    try:
        state_dict = _public_state_dict(checkpoint)
    except TypeError:
        return False
    if not all(k in state_dict for k in CLASSIFIER_KEYS):
        return False
    if not any(k.startswith(BACKBONE_PREFIXES) for k in state_dict):
        return False
    return not any(k.startswith('backbone.') for k in state_dict)


def convert_imagenet_checkpoint(checkpoint: dict,
                                report=None,
                                classes: Optional[Sequence[str]] = None
                                ) -> dict:
    """Map a public ImageNet checkpoint to mmpretrain's key layout
    (:data:`KEY_MAP`; tensors unchanged).

    Args:
        checkpoint (dict): The loaded public file.
        report (ConversionReport, optional): Records what was mapped.
        classes (Sequence[str], optional): Class names for
            ``meta['dataset_meta']``, one per head output.

    Returns:
        dict: ``dict(meta=..., state_dict=...)``.

    Raises:
        ValueError: If the checkpoint is not in the public layout, has keys
            of unknown meaning, or ``classes`` does not fit the head.
    """
    report = report if report is not None else ConversionReport()
    state_dict = _public_state_dict(checkpoint, report)
    if any(k.startswith('backbone.') for k in state_dict):
        raise ValueError(
            'The checkpoint has "backbone."-prefixed keys: it is already an '
            'OpenMMLab (mmpretrain/mmdet/mmseg) checkpoint, not a public '
            'ImageNet file; load it directly')
    missing = [k for k in CLASSIFIER_KEYS if k not in state_dict]
    if not any(k.startswith(BACKBONE_PREFIXES) for k in state_dict):
        raise ValueError('Not a public UniRepLKNet ImageNet checkpoint: no '
                         'key starts with "downsample_layers." or "stages." '
                         f'(keys look like {list(state_dict)[:3]})')
    if missing:
        raise ValueError(f'The public ImageNet checkpoint lacks the '
                         f'classifier keys {missing} (LayerNorm "norm" and '
                         'Linear "head"); a backbone-only file can be loaded '
                         'with model.backbone.init_cfg instead')
    unknown = [
        k for k in state_dict
        if not any(k.startswith(src) for src, _ in KEY_MAP)
    ]
    if unknown:
        raise ValueError(f'Keys of unknown meaning in the public ImageNet '
                         f'checkpoint: {unknown[:8]}'
                         f'{" ..." if len(unknown) > 8 else ""}')

    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    counts = {src: 0 for src, _ in KEY_MAP}
    for src, dst in KEY_MAP:
        for key, value in state_dict.items():
            if key.startswith(src):
                converted[dst + key[len(src):]] = value
                counts[src] += 1
                if src in ('norm.', 'head.'):
                    report.add('classifier keys',
                               f'{key} -> {dst + key[len(src):]}')
    num_classes = int(state_dict['head.weight'].shape[0])
    num_backbone = counts['downsample_layers.'] + counts['stages.']
    report.add('backbone keys',
               f'{num_backbone} tensors: downsample_layers.* / stages.* '
               '-> backbone.*')
    report.add('detected',
               f'UniRepLKNet-{describe_arch(state_dict)}, {num_classes} '
               'classes')

    meta: dict = dict(
        source_layout='UniRepLKNet public ImageNet checkpoint',
        num_classes=num_classes)
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(classes) != num_classes:
            raise ValueError(f'{len(classes)} class names given for a head '
                             f'with {num_classes} outputs')
        meta['dataset_meta'] = dict(classes=classes)
    return dict(meta=meta, state_dict=converted)
