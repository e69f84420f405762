# Copyright (c) mmunireplk contributors. All rights reserved.
"""Conversion of public mmseg 0.x UniRepLKNet segmentation checkpoints."""
from typing import Optional

from mmunireplk.utils.convert import (ConversionReport, drop_keys,
                                      make_checkpoint, rename_keys,
                                      split_runner_checkpoint,
                                      upgrade_legacy_meta)

# Top-level parts of a segmentor state dict in mmseg 0.x and 1.x.
SEGMENTOR_PREFIXES = ('backbone.', 'decode_head.', 'auxiliary_head.')
# ImageNet classifier parts a backbone may still carry; the segmentor has
# no place for them.
CLASSIFIER_PREFIXES = ('backbone.head.', 'backbone.norm.')


def convert_mmseg0x_checkpoint(
        checkpoint: dict,
        report: Optional[ConversionReport] = None) -> dict:
    """Turn an mmseg 0.x runner checkpoint into an mmseg 1.x one.

    mmseg 1.x kept the parameter names of ``EncoderDecoder``, ``UPerHead``
    (``psp_modules``, ``bottleneck``, ``lateral_convs``, ``fpn_convs``,
    ``fpn_bottleneck``, ``conv_seg``) and ``FCNHead`` (``convs``,
    ``conv_seg``), and the backbone names are those of the public
    checkpoints, so the weights need no renaming. What changes is the
    container: the optimizer state and the mmcv 1.x ``meta`` (``CLASSES``,
    ``PALETTE``, ``mmseg_version`` ...) are dropped or upgraded
    (``dataset_meta``), a ``module.`` (DDP) prefix is removed, and
    classifier leftovers (``backbone.head.*``, ``backbone.norm.*``) are
    dropped.

    Args:
        checkpoint (dict): The loaded mmseg 0.x checkpoint.
        report (ConversionReport, optional): Records every change.

    Returns:
        dict: ``dict(meta=..., state_dict=...)``.

    Raises:
        KeyError: If the weights are not those of a segmentor with a
            backbone and a decode head.
    """
    report = report if report is not None else ConversionReport()
    state_dict, others = split_runner_checkpoint(checkpoint, report)
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = rename_keys(state_dict, [(r'^module\.', '')], report)
    state_dict = drop_keys(state_dict, CLASSIFIER_PREFIXES, report)
    for required in ('backbone.', 'decode_head.'):
        if not any(k.startswith(required) for k in state_dict):
            raise KeyError(
                f'No key starts with {required!r}: not an mmseg segmentor '
                f'checkpoint (keys look like {list(state_dict)[:3]})')
    for key in state_dict:
        if not key.startswith(SEGMENTOR_PREFIXES):
            report.add('kept keys outside backbone/decode_head/'
                       'auxiliary_head', key)
    meta = upgrade_legacy_meta(others.get('meta'), report)
    return make_checkpoint(state_dict, meta)
