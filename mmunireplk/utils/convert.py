# Copyright (c) mmunireplk contributors. All rights reserved.
"""Small helpers shared by the checkpoint converters in
``tools/model_converters``.

A converter typically:

1. reads a legacy runner checkpoint (:func:`read_legacy_checkpoint`),
2. splits it into weights and the rest (:func:`split_runner_checkpoint`),
3. optionally swaps in EMA weights (:func:`take_ema_weights`),
4. renames keys by regex rules (:func:`rename_keys`),
5. saves a clean ``dict(meta=..., state_dict=...)`` atomically
   (:func:`save_checkpoint_atomic`),

recording every change in a :class:`ConversionReport` that it prints.
"""
import io
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from mmunireplk.models.utils import load_checkpoint_file, unwrap_state_dict
from .checkpoint_io import AtomicLocalBackend

StateDict = Dict[str, torch.Tensor]
# Prefix of the buffers that mmcv 1.x / mmdet 2.x EMA hooks register on the
# model: ``ema_`` + parameter name with dots replaced by underscores.
LEGACY_EMA_PREFIX = 'ema_'
# Top-level key under which mmengine's EMAHook saves the averaged model.
MMENGINE_EMA_KEY = 'ema_state_dict'


class ConversionReport:
    """Collects what a conversion changed, to print it at the end."""

    def __init__(self, title: str = 'conversion') -> None:
        self.title = title
        self.sections: 'OrderedDict[str, List[str]]' = OrderedDict()

    def add(self, section: str, item: str) -> None:
        """Record one change under a section name."""
        self.sections.setdefault(section, []).append(item)

    def count(self, section: str) -> int:
        """Number of changes recorded under ``section``."""
        return len(self.sections.get(section, []))

    def format(self, max_items: int = 10) -> str:
        """A readable multi-line summary (long sections are shortened)."""
        lines = [f'[{self.title}]']
        if not self.sections:
            lines.append('  nothing changed')
        for section, items in self.sections.items():
            lines.append(f'  {section}: {len(items)}')
            for item in items[:max_items]:
                lines.append(f'    {item}')
            if len(items) > max_items:
                lines.append(f'    ... (+{len(items) - max_items} more)')
        return '\n'.join(lines)

    def __str__(self) -> str:
        return self.format()


def read_legacy_checkpoint(filename: str) -> dict:
    """Read a (possibly legacy) checkpoint file as a dict.

    Files holding only tensors load with ``weights_only=True``; runner
    checkpoints that also pickle Python objects (``meta``, optimizer
    states) are read in full: only convert files you trust.

    Raises:
        FileNotFoundError: If the file does not exist.
        TypeError: If the file does not hold a dict.
    """
    checkpoint = load_checkpoint_file(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{filename} holds a {type(checkpoint).__name__}, '
                        'not a checkpoint dict')
    return checkpoint


def split_runner_checkpoint(
        checkpoint: dict,
        report: Optional[ConversionReport] = None) -> Tuple[StateDict, dict]:
    """Separate the weights of a runner checkpoint from everything else.

    Args:
        checkpoint (dict): A runner checkpoint (``state_dict`` plus e.g.
            ``optimizer``, ``meta``, ``message_hub``, ``ema_state_dict``) or
            a bare state dict.
        report (ConversionReport, optional): Records the top-level entries
            that are not weights (they are dropped unless used).

    Returns:
        tuple[dict, dict]: The state dict and the other top-level entries.
    """
    state_dict = unwrap_state_dict(checkpoint)
    if state_dict is checkpoint:
        return OrderedDict(state_dict), {}
    others = {k: v for k, v in checkpoint.items() if v is not state_dict}
    if report is not None:
        for key in others:
            if key != 'meta':  # meta is upgraded, see upgrade_legacy_meta
                report.add('dropped top-level entries', key)
    return OrderedDict(state_dict), others


def legacy_ema_key(name: str, prefix: str = LEGACY_EMA_PREFIX) -> str:
    """The name of the mmcv 1.x / mmdet 2.x EMA buffer of a weight."""
    return prefix + name.replace('.', '_')


def take_ema_weights(state_dict: StateDict,
                     others: Optional[dict] = None,
                     use_ema: bool = False,
                     report: Optional[ConversionReport] = None) -> StateDict:
    """Drop EMA copies from a state dict, optionally using them as weights.

    Two layouts are understood: legacy ``ema_<name_with_underscores>``
    buffers inside the state dict (mmcv 1.x ``EMAHook``, mmdet 2.x
    ``ExpMomentumEMAHook``), and mmengine's top-level ``ema_state_dict``
    (keys ``module.<name>`` plus ``steps``) passed in ``others``.

    Args:
        state_dict (dict): Model weights, possibly with ``ema_*`` buffers.
        others (dict, optional): Other top-level checkpoint entries.
        use_ema (bool): Replace each weight by its EMA copy.
        report (ConversionReport, optional): Records the changes.

    Returns:
        dict: The weights without any EMA buffer.

    Raises:
        KeyError: If ``use_ema`` is set and the checkpoint has no EMA copy.
    """
    legacy = {k for k in state_dict if k.startswith(LEGACY_EMA_PREFIX)}
    weights = OrderedDict(
        (k, v) for k, v in state_dict.items() if k not in legacy)
    if legacy and report is not None:
        report.add('dropped EMA buffers',
                   f'{len(legacy)} ema_* buffers removed from the weights')
    if not use_ema:
        return weights

    ema_source: Dict[str, torch.Tensor] = {}
    if legacy:
        ema_source = {
            name: state_dict[legacy_ema_key(name)]
            for name in weights if legacy_ema_key(name) in legacy
        }
    elif others and isinstance(others.get(MMENGINE_EMA_KEY), dict):
        ema_source = {
            k[len('module.'):]: v
            for k, v in others[MMENGINE_EMA_KEY].items()
            if k.startswith('module.') and k[len('module.'):] in weights
        }
    if not ema_source:
        raise KeyError('use_ema was requested but the checkpoint has no EMA '
                       'weights (neither ema_* buffers nor an '
                       f'{MMENGINE_EMA_KEY!r} entry)')
    for name, value in ema_source.items():
        if value.shape != weights[name].shape:
            raise ValueError(f'EMA copy of {name} has shape '
                             f'{tuple(value.shape)}, the weight '
                             f'{tuple(weights[name].shape)}')
        weights[name] = value.clone()
    if report is not None:
        report.add('weights replaced by their EMA copy',
                   f'{len(ema_source)}/{len(weights)} tensors')
        for name in weights:
            if name not in ema_source:
                report.add('weights without an EMA copy (kept)', name)
    return weights


def rename_keys(state_dict: StateDict,
                rules: Sequence[Tuple[str, str]],
                report: Optional[ConversionReport] = None) -> StateDict:
    """Rename keys by ``(regex, replacement)`` rules, applied in order.

    Raises:
        KeyError: If two keys end up with the same name.
    """
    renamed: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        for pattern, replacement in rules:
            new_key = re.sub(pattern, replacement, new_key)
        if new_key in renamed:
            raise KeyError(f'Renaming {key!r} gives {new_key!r}, which '
                           'already exists')
        if new_key != key and report is not None:
            report.add('renamed keys', f'{key} -> {new_key}')
        renamed[new_key] = value
    return renamed


def drop_keys(state_dict: StateDict,
              prefixes: Iterable[str],
              report: Optional[ConversionReport] = None) -> StateDict:
    """Remove the keys starting with any of ``prefixes``."""
    prefixes = tuple(prefixes)
    kept: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(prefixes):
            if report is not None:
                report.add('dropped keys', key)
        else:
            kept[key] = value
    return kept


def upgrade_legacy_meta(meta: Optional[dict],
                        report: Optional[ConversionReport] = None) -> dict:
    """Keep the plain, useful part of a legacy ``meta`` for mmengine.

    ``CLASSES`` (mmdet 2.x / mmseg 0.x) becomes
    ``dataset_meta['classes']``, ``PALETTE`` ``dataset_meta['palette']``;
    only strings, numbers and lists/tuples of them are kept so that the
    result loads with ``torch.load(weights_only=True)``.
    """
    meta = dict(meta or {})
    new_meta: dict = {}
    dataset_meta = dict(meta.get('dataset_meta') or {})
    for old, new in (('CLASSES', 'classes'), ('PALETTE', 'palette')):
        if meta.get(old) is not None and new not in dataset_meta:
            dataset_meta[new] = _plain(meta[old])
            if report is not None:
                report.add('meta upgraded', f'{old} -> dataset_meta.{new}')
    if dataset_meta:
        new_meta['dataset_meta'] = _plain(dataset_meta)
    for key in ('epoch', 'iter', 'mmdet_version', 'mmseg_version',
                'mmcv_version', 'mmengine_version', 'time'):
        if isinstance(meta.get(key), (str, int, float)):
            new_meta[f'source_{key}' if 'version' in key else key] = meta[key]
    return new_meta


def _plain(value):
    """Recursively turn tuples/ndarrays into lists of plain values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, 'tolist'):
        return value.tolist()
    return value


def save_checkpoint_atomic(checkpoint: dict, filename: str) -> None:
    """``torch.save`` to a temporary file, then rename it into place.

    A crash never leaves a half-written file under ``filename``.
    """
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    AtomicLocalBackend().put(buffer.getvalue(), filename)


def make_checkpoint(state_dict: StateDict,
                    meta: Optional[dict] = None) -> dict:
    """The converters' output: ``dict(meta=..., state_dict=...)``."""
    return dict(meta=dict(meta or {}), state_dict=OrderedDict(state_dict))


def infer_unireplknet_arch(state_dict: StateDict) -> dict:
    """Read the UniRepLKNet constructor arguments off its state dict.

    Works for the training and the deploy form (keys without prefix).

    Returns:
        dict: ``arch`` (depths, dims, kernel_sizes), ``in_channels``,
        ``out_indices`` and ``layer_scale_init_value``, ready for
        ``UniRepLKNet(**kwargs)``.

    Raises:
        KeyError: If the keys do not look like a UniRepLKNet.
    """
    dims, depths, kernel_sizes = [], [], []
    for i in range(4):
        # The stem's last conv (index 3) gives dims[0].
        key = f'downsample_layers.{i}.{3 if i == 0 else 0}.weight'
        if key not in state_dict:
            raise KeyError(f'{key!r} not found: not a UniRepLKNet state dict '
                           f'(keys look like {list(state_dict)[:3]})')
        dims.append(int(state_dict[key].shape[0]))
        kernels = []
        while True:
            block = f'stages.{i}.{len(kernels)}.dwconv'
            weight = state_dict.get(f'{block}.lk_origin.weight',
                                    state_dict.get(f'{block}.weight'))
            if weight is None:
                break
            kernels.append(int(weight.shape[-1]))
        depths.append(len(kernels))
        kernel_sizes.append(tuple(kernels))
    has_gamma = any(k.startswith('stages.') and k.endswith('.gamma')
                    for k in state_dict)
    return dict(
        arch=dict(
            depths=tuple(depths),
            dims=tuple(dims),
            kernel_sizes=tuple(kernel_sizes)),
        in_channels=int(state_dict['downsample_layers.0.0.weight'].shape[1]),
        out_indices=tuple(i for i in range(4) if f'norm{i}.weight' in
                          state_dict),
        layer_scale_init_value=1e-6 if has_gamma else None)


def reparameterize_state_dict(
        state_dict: StateDict,
        prefix: str = 'backbone.',
        report: Optional[ConversionReport] = None) -> StateDict:
    """Turn the UniRepLKNet weights in a state dict into the deploy form.

    The backbone keys (under ``prefix``; ``''`` for a bare backbone) are
    loaded into a training-form UniRepLKNet of the inferred architecture,
    re-parameterised in eval mode and written back; other keys (neck,
    heads) are kept as they are.

    Raises:
        KeyError: If no UniRepLKNet keys are found under ``prefix``.
        ValueError: If they are already in the deploy form.
    """
    # Imported here: the backbone module imports the layers and checkpoint
    # utilities, which in turn must stay importable without this module.
    from mmunireplk.models.backbones import UniRepLKNet
    from mmunireplk.models.utils import checkpoint_form

    backbone_sd = OrderedDict(
        (k[len(prefix):], v) for k, v in state_dict.items()
        if k.startswith(prefix) and _is_backbone_key(k[len(prefix):]))
    if not backbone_sd:
        raise KeyError(f'No UniRepLKNet key starts with {prefix!r}; pass the '
                       "right prefix ('' for a bare backbone)")
    if checkpoint_form(backbone_sd) == 'deploy':
        raise ValueError('The UniRepLKNet weights are already in the deploy '
                         'form')
    kwargs = infer_unireplknet_arch(backbone_sd)
    model = UniRepLKNet(**kwargs)
    model.load_state_dict(backbone_sd, strict=True)
    model.eval()
    model.switch_to_deploy()
    deployed = model.state_dict()

    # Keep the order: other keys in place, the backbone where it started.
    result: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    inserted = False
    for key, value in state_dict.items():
        if not (key.startswith(prefix) and key[len(prefix):] in backbone_sd):
            result[key] = value
        elif not inserted:
            result.update((prefix + k, v) for k, v in deployed.items())
            inserted = True
    if report is not None:
        arch = kwargs['arch']
        report.add('re-parameterised backbone',
                   f'depths {arch["depths"]}, dims {arch["dims"]}: '
                   f'{len(backbone_sd)} training-form tensors -> '
                   f'{len(deployed)} deploy-form tensors')
        for key in sorted(set(backbone_sd) - set(deployed)):
            report.add('removed (folded) keys', prefix + key)
        for key in sorted(set(deployed) - set(backbone_sd)):
            report.add('new keys', prefix + key)
    return result


def _is_backbone_key(key: str) -> bool:
    """Whether a bare key belongs to UniRepLKNet (not its classifier)."""
    head = key.split('.', 1)[0]
    return head in ('downsample_layers', 'stages') or bool(
        re.fullmatch(r'norm\d', head))
