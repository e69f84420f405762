# Copyright (c) mmunireplk contributors. All rights reserved.
"""The public UniRepLKNet ImageNet checkpoints and mmpretrain's layout.

The public files (``unireplknet_*_in1k_224_acc*.pth``,
``unireplknet_*_in22k_pretrain.pth``, ``unireplknet_*_in22k_to_in1k_384_*``)
hold a plain state dict (possibly wrapped in ``model`` or ``state_dict``)
with un-prefixed keys: the backbone (``downsample_layers.*``, ``stages.*``)
and the classifier, ``norm.*`` (LayerNorm after global pooling) and
``head.*`` (Linear). An mmpretrain ``ImageClassifier`` with the UniRepLKNet
backbone and :class:`mmunireplk.cls.UniRepLKNetClsHead` has the same
tensors under ``backbone.``, ``head.norm.`` and ``head.head.``; the mapping
is one to one.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

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
WRAPPER_KEYS = ('state_dict', 'model', 'module')
# depths and dims of the nine sizes, to name the size in reports
ARCH_NAMES = {
    ((2, 2, 6, 2), (40, 80, 160, 320)): 'atto',
    ((2, 2, 6, 2), (48, 96, 192, 384)): 'femto',
    ((2, 2, 6, 2), (64, 128, 256, 512)): 'pico',
    ((2, 2, 8, 2), (80, 160, 320, 640)): 'nano',
    ((3, 3, 18, 3), (80, 160, 320, 640)): 'tiny',
    ((3, 3, 27, 3), (96, 192, 384, 768)): 'small',
    ((3, 3, 27, 3), (128, 256, 512, 1024)): 'base',
    ((3, 3, 27, 3), (192, 384, 768, 1536)): 'large',
    ((3, 3, 27, 3), (256, 512, 1024, 2048)): 'xlarge',
}


def _unwrap(checkpoint: dict) -> Tuple[StateDict, Sequence[str]]:
    """The tensor dict of a checkpoint and the names of what wrapped it."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint must be a dict, got '
                        f'{type(checkpoint).__name__}')
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            others = [k for k in checkpoint if k != key]
            return checkpoint[key], others
    return checkpoint, []


def _strip_module(state_dict: StateDict) -> StateDict:
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return OrderedDict((k[len('module.'):], v)
                           for k, v in state_dict.items())
    return state_dict


def is_public_imagenet_layout(checkpoint: dict) -> bool:
    """Whether a checkpoint (or its state dict) is in the public layout.

    True for un-prefixed UniRepLKNet backbone keys together with the
    ImageNet classifier ``norm.weight/bias`` and ``head.weight/bias``,
    bare or wrapped in ``state_dict`` / ``model`` (optionally with a DDP
    ``module.`` prefix). mmpretrain, mmdet and mmseg checkpoints (keys
    under ``backbone.``) are not.
    """
    try:
        state_dict = _strip_module(_unwrap(checkpoint)[0])
    except TypeError:
        return False
    if not all(k in state_dict for k in CLASSIFIER_KEYS):
        return False
    if not any(k.startswith(BACKBONE_PREFIXES) for k in state_dict):
        return False
    return not any(k.startswith('backbone.') for k in state_dict)


def describe_arch(state_dict: StateDict, prefix: str = '') -> str:
    """A short name of the UniRepLKNet size of a state dict, e.g.
    ``'atto (depths (2, 2, 6, 2), dims (40, 80, 160, 320))'``."""
    dims, depths = [], []
    for i in range(4):
        key = f'{prefix}downsample_layers.{i}.{3 if i == 0 else 0}.weight'
        if key not in state_dict:
            return 'unknown size'
        dims.append(int(state_dict[key].shape[0]))
        blocks = {
            k[len(f'{prefix}stages.{i}.'):].split('.', 1)[0]
            for k in state_dict if k.startswith(f'{prefix}stages.{i}.')
        }
        depths.append(len(blocks))
    name = ARCH_NAMES.get((tuple(depths), tuple(dims)), 'custom')
    return f'{name} (depths {tuple(depths)}, dims {tuple(dims)})'


def convert_imagenet_checkpoint(checkpoint: dict,
                                report=None,
                                classes: Optional[Sequence[str]] = None
                                ) -> dict:
    """Map a public ImageNet checkpoint to mmpretrain's key layout.

    ``downsample_layers.* / stages.*`` -> ``backbone.*``, ``norm.*`` ->
    ``head.norm.*``, ``head.*`` -> ``head.head.*``. Tensors are not changed.

    Args:
        checkpoint (dict): The loaded public file (a state dict, possibly
            wrapped in ``model`` / ``state_dict``).
        report (ConversionReport, optional): Records every mapping and
            what was dropped.
        classes (Sequence[str], optional): Class names written to
            ``meta['dataset_meta']['classes']`` (their number must equal the
            head's output size).

    Returns:
        dict: ``dict(meta=..., state_dict=...)``, loadable strictly into the
        matching classifier config.

    Raises:
        ValueError: If the checkpoint is not in the public layout (the
            message says what is missing), has keys of unknown meaning, or
            ``classes`` does not fit the head.
    """
    state_dict, wrappers = _unwrap(checkpoint)
    state_dict = _strip_module(state_dict)
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
                if report is not None and src in ('norm.', 'head.'):
                    report.add('classifier keys',
                               f'{key} -> {dst + key[len(src):]}')
    num_classes = int(state_dict['head.weight'].shape[0])
    if report is not None:
        num_backbone = counts['downsample_layers.'] + counts['stages.']
        report.add('backbone keys',
                   f'{num_backbone} tensors: downsample_layers.* / stages.* '
                   '-> backbone.*')
        report.add('detected',
                   f'UniRepLKNet-{describe_arch(state_dict)}, '
                   f'{num_classes} classes')
        for key in wrappers:
            report.add('dropped top-level entries', key)

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
