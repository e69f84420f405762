# Copyright (c) mmunireplk contributors. All rights reserved.
"""Checkpoint converters: ``converter(checkpoint, report, **kwargs)`` returns
``dict(meta=..., state_dict=...)``; :func:`convert_file` reads, converts,
checks and saves (the CLIs in ``tools/model_converters/`` wrap it)."""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from mmunireplk.models.backbones.unireplknet import (is_backbone_key,
                                                     reparameterize_state_dict,
                                                     state_dict_form)
from mmunireplk.models.pretrained import strip_prefix, unwrap_state_dict
from .io import add_trust_argument, read_checkpoint, save_checkpoint_atomic
from .runner_state import to_builtin

StateDict = Dict[str, torch.Tensor]
Converter = Callable[..., dict]
# mmcv 1.x / mmdet 2.x EMA buffers: 'ema_' + name with '.' -> '_'
LEGACY_EMA_PREFIX = 'ema_'
# where mmengine's EMAHook saves the averaged model
MMENGINE_EMA_KEY = 'ema_state_dict'


class ConversionReport:
    """Collects what a conversion changed, to print it at the end."""

    def __init__(self, title: str = 'conversion') -> None:
        self.title = title
        self.sections: 'OrderedDict[str, List[str]]' = OrderedDict()

    def add(self, section: str, item: str) -> None:
        self.sections.setdefault(section, []).append(item)

    def count(self, section: str) -> int:
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


def split_runner_checkpoint(
        checkpoint: dict,
        report: Optional[ConversionReport] = None) -> Tuple[StateDict, dict]:
    """The state dict of a runner checkpoint and its other top-level entries
    (recorded as dropped in ``report``, except ``meta``)."""
    state_dict = unwrap_state_dict(checkpoint)
    if state_dict is checkpoint:
        return OrderedDict(state_dict), {}
    others = {k: v for k, v in checkpoint.items() if v is not state_dict}
    if report is not None:
        for key in others:
            if key != 'meta':  # meta is upgraded, see upgrade_legacy_meta
                report.add('dropped top-level entries', key)
    return OrderedDict(state_dict), others


def strip_ddp_prefix(state_dict: StateDict,
                     report: Optional[ConversionReport] = None) -> StateDict:
    """Remove a ``module.`` (DDP) prefix carried by every key."""
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return rename_keys(state_dict, [(r'^module\.', '')], report)
    return state_dict


def rename_keys(state_dict: StateDict,
                rules: Sequence[Tuple[str, str]],
                report: Optional[ConversionReport] = None) -> StateDict:
    """Rename keys by ``(regex, replacement)`` rules, applied in order;
    KeyError if two keys end up with the same name."""
    renamed: StateDict = OrderedDict()
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
              should_drop: Callable[[str], bool],
              report: Optional[ConversionReport] = None) -> StateDict:
    """Remove the keys for which ``should_drop(key)`` is true."""
    kept: StateDict = OrderedDict()
    for key, value in state_dict.items():
        if should_drop(key):
            if report is not None:
                report.add('dropped keys', key)
        else:
            kept[key] = value
    return kept


def not_backbone_key(key: str, prefix: str = 'backbone.') -> bool:
    """Whether ``key`` is under ``prefix`` but not a UniRepLKNet key (e.g.
    ``backbone.head.*``)."""
    return key.startswith(prefix) and not is_backbone_key(key[len(prefix):])


def legacy_ema_key(name: str, prefix: str = LEGACY_EMA_PREFIX) -> str:
    """The name of the mmcv 1.x / mmdet 2.x EMA buffer of a weight."""
    return prefix + name.replace('.', '_')


def take_ema_weights(state_dict: StateDict,
                     others: Optional[dict] = None,
                     use_ema: bool = False,
                     report: Optional[ConversionReport] = None) -> StateDict:
    """Drop EMA copies from a state dict, optionally using them as weights:
    legacy ``ema_*`` buffers in the state dict (mmcv 1.x / mmdet 2.x), or
    mmengine's top-level ``ema_state_dict`` passed in ``others``.

    Raises:
        KeyError: If ``use_ema`` is set and the checkpoint has no EMA copy.
        ValueError: If an EMA copy has another shape than its weight.
    """
    legacy = {k for k in state_dict if k.startswith(LEGACY_EMA_PREFIX)}
    weights = OrderedDict(
        (k, v) for k, v in state_dict.items() if k not in legacy)
    if legacy and report is not None:
        report.add('dropped EMA buffers',
                   f'{len(legacy)} ema_* buffers removed from the weights')
    if not use_ema:
        return weights

    ema_source: StateDict = {}
    if legacy:
        ema_source = {
            name: state_dict[legacy_ema_key(name)]
            for name in weights if legacy_ema_key(name) in legacy
        }
    elif others and isinstance(others.get(MMENGINE_EMA_KEY), dict):
        ema_source = {
            k: v
            for k, v in strip_prefix(others[MMENGINE_EMA_KEY],
                                     'module.').items() if k in weights
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


def upgrade_legacy_meta(meta: Optional[dict],
                        report: Optional[ConversionReport] = None) -> dict:
    """The plain, useful part of a legacy ``meta``: ``CLASSES`` / ``PALETTE``
    become ``dataset_meta`` entries; only built-in values are kept (so the
    result loads weights-only)."""
    meta = dict(meta or {})
    new_meta: dict = {}
    dataset_meta = dict(meta.get('dataset_meta') or {})
    for old, new in (('CLASSES', 'classes'), ('PALETTE', 'palette')):
        if meta.get(old) is not None and new not in dataset_meta:
            dataset_meta[new] = meta[old]
            if report is not None:
                report.add('meta upgraded', f'{old} -> dataset_meta.{new}')
    if dataset_meta:
        new_meta['dataset_meta'] = to_builtin(dataset_meta)
    for key in ('epoch', 'iter', 'mmdet_version', 'mmseg_version',
                'mmcv_version', 'mmengine_version', 'time',
                'reparameterized'):
        value = to_builtin(meta.get(key))
        if isinstance(value, (str, int, float)):
            new_meta[f'source_{key}' if 'version' in key else key] = value
    return new_meta


def make_checkpoint(state_dict: StateDict,
                    meta: Optional[dict] = None) -> dict:
    """The converters' output: ``dict(meta=..., state_dict=...)``."""
    return dict(meta=dict(meta or {}), state_dict=OrderedDict(state_dict))


# Key upgrades mmdet 2.28 -> 3.x for Cascade Mask R-CNN + FPN + UniRepLKNet.
# mmdet 3.x kept every parameter name of this model (tests/test_det checks
# it against our configs); only a DDP 'module.' prefix is removed.
MMDET2_TO_3_RULES: List[Tuple[str, str]] = [(r'^module\.', '')]


def convert_mmdet2_checkpoint(checkpoint: dict,
                              report: ConversionReport,
                              ema_buffers: bool = False) -> dict:
    """An mmdet 2.x Cascade Mask R-CNN runner checkpoint for mmdet 3.x: the
    weights with :data:`MMDET2_TO_3_RULES`, upgraded meta; optimizer and EMA
    buffers dropped.

    mmcv 1.x EMA hooks swap the averaged weights into the model before an
    end-of-epoch save, so the main weights already are the EMA ones;
    ``ema_buffers=True`` takes the ``ema_*`` buffers instead (for files saved
    mid-epoch, where they hold the average).
    """
    state_dict, others = split_runner_checkpoint(checkpoint, report)
    state_dict = rename_keys(state_dict, MMDET2_TO_3_RULES, report)
    state_dict = take_ema_weights(state_dict, others, ema_buffers, report)
    return make_checkpoint(state_dict,
                           upgrade_legacy_meta(others.get('meta'), report))


# Top-level parts of a segmentor state dict in mmseg 0.x and 1.x.
SEGMENTOR_PREFIXES = ('backbone.', 'decode_head.', 'auxiliary_head.')


def convert_mmseg0x_checkpoint(checkpoint: dict,
                               report: ConversionReport) -> dict:
    """An mmseg 0.x UPerNet runner checkpoint for mmseg 1.x. The parameter
    names are unchanged; the optimizer is dropped, the meta upgraded, and a
    ``module.`` prefix and classifier leftovers under ``backbone.`` removed.

    Raises:
        KeyError: If the weights are not those of a segmentor with a
            backbone and a decode head.
    """
    state_dict, others = split_runner_checkpoint(checkpoint, report)
    state_dict = strip_ddp_prefix(state_dict, report)
    state_dict = drop_keys(state_dict, not_backbone_key, report)
    for required in ('backbone.', 'decode_head.'):
        if not any(k.startswith(required) for k in state_dict):
            raise KeyError(
                f'No key starts with {required!r}: not an mmseg segmentor '
                f'checkpoint (keys look like {list(state_dict)[:3]})')
    for key in state_dict:
        if not key.startswith(SEGMENTOR_PREFIXES):
            report.add('kept keys outside backbone/decode_head/'
                       'auxiliary_head', key)
    return make_checkpoint(state_dict,
                           upgrade_legacy_meta(others.get('meta'), report))


def reparameterize_checkpoint(checkpoint: dict,
                              report: ConversionReport,
                              prefix: Optional[str] = None) -> dict:
    """Turn the UniRepLKNet weights of a checkpoint (under ``prefix``; by
    default ``backbone.`` if present, else ``''``) into the deploy form;
    other keys are kept in place.

    Raises:
        KeyError: If no UniRepLKNet key is found under ``prefix``.
        ValueError: If the weights are already in the deploy form.
    """
    state_dict, others = split_runner_checkpoint(checkpoint, report)
    state_dict = strip_ddp_prefix(state_dict, report)
    if prefix is None:
        prefix = 'backbone.' if any(
            k.startswith('backbone.') for k in state_dict) else ''
    backbone = OrderedDict(
        (k, v) for k, v in strip_prefix(state_dict, prefix).items()
        if is_backbone_key(k))
    if not backbone:
        raise KeyError(f'No UniRepLKNet key starts with {prefix!r}; pass the '
                       "right prefix ('' for a bare backbone)")
    if state_dict_form(backbone) == 'deploy':
        raise ValueError('The UniRepLKNet weights are already in the deploy '
                         'form')
    deployed = reparameterize_state_dict(backbone)
    result: StateDict = OrderedDict()
    inserted = False
    for key, value in state_dict.items():  # the backbone where it started
        if not (key.startswith(prefix) and key[len(prefix):] in backbone):
            result[key] = value
        elif not inserted:
            result.update((prefix + k, v) for k, v in deployed.items())
            inserted = True
    report.add('re-parameterised backbone',
               f'{len(backbone)} training-form tensors -> {len(deployed)} '
               'deploy-form tensors')
    for key in sorted(set(backbone) - set(deployed)):
        report.add('removed (folded) keys', prefix + key)
    for key in sorted(set(deployed) - set(backbone)):
        report.add('new keys', prefix + key)
    meta = upgrade_legacy_meta(others.get('meta'), report)
    meta['reparameterized'] = True
    return make_checkpoint(result, meta)


def convert_file(src: str,
                 dst: str,
                 converter: Converter,
                 check: Optional[Callable[[StateDict], str]] = None,
                 trust: Optional[bool] = None,
                 title: Optional[str] = None,
                 **kwargs) -> ConversionReport:
    """Read ``src`` (weights-only unless trusted), convert, check, save
    atomically to ``dst``.

    Args:
        converter (callable): ``converter(checkpoint, report, **kwargs)``.
        check (callable, optional): ``check(state_dict)`` raises if the
            result is unusable (e.g.
            :func:`mmunireplk.apis.builder.check_strict_load`) and returns
            what it verified.
        trust (bool, optional): Unpickle ``src`` in full.
        title (str, optional): Title of the report.

    Returns:
        ConversionReport: What changed.
    """
    if osp.abspath(src) == osp.abspath(dst):
        raise ValueError(f'The output must differ from the input: {dst}')
    report = ConversionReport(f'{title or converter.__name__}: '
                              f'{src} -> {dst}')
    result = converter(read_checkpoint(src, trust=trust), report, **kwargs)
    if check is not None:
        report.add('verified', check(result['state_dict']))
    save_checkpoint_atomic(result, dst)
    report.add('saved', f'{len(result["state_dict"])} tensors to {dst}')
    return report


def converter_parser(description: str) -> argparse.ArgumentParser:
    """``src dst [--config CFG] [--trust-checkpoint]`` of the converters."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='input checkpoint (path or URL)')
    parser.add_argument('dst', help='output checkpoint (written atomically)')
    parser.add_argument(
        '--config',
        help='check that the result loads strictly into the model of this '
        'config before saving it')
    add_trust_argument(parser)
    return parser
