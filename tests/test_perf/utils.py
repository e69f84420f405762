# Copyright (c) mmunireplk contributors. All rights reserved.
"""Helpers of the performance / export tests."""
import sys
from contextlib import contextmanager
from typing import List

import torch
from mmengine.config import Config

from tests.helpers import REPO, load_tool  # noqa: F401


@contextmanager
def argv(args: List[str]):
    """Run a tool's ``main()`` with these command-line arguments."""
    saved = sys.argv
    sys.argv = ['tool'] + [str(a) for a in args]
    try:
        yield
    finally:
        sys.argv = saved


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|."""
    return ((a - b).abs().max() / b.abs().max()).item()


def tiny_upernet_config(num_classes: int = 5) -> Config:
    """An mmseg UPerNet + UniRepLKNet-atto config with small heads."""
    norm_cfg = dict(type='BN', requires_grad=True)
    loss = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
    return Config(
        dict(
            default_scope='mmseg',
            custom_imports=dict(
                imports=['mmunireplk'], allow_failed_imports=False),
            model=dict(
                type='EncoderDecoder',
                data_preprocessor=dict(
                    type='SegDataPreProcessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True,
                    pad_val=0,
                    seg_pad_val=255),
                backbone=dict(
                    type='mmunireplk.UniRepLKNet',
                    arch='atto',
                    out_indices=(0, 1, 2, 3)),
                decode_head=dict(
                    type='UPerHead',
                    in_channels=[40, 80, 160, 320],
                    in_index=[0, 1, 2, 3],
                    pool_scales=(1, 2, 3, 6),
                    channels=32,
                    dropout_ratio=0.1,
                    num_classes=num_classes,
                    norm_cfg=norm_cfg,
                    align_corners=False,
                    loss_decode=loss),
                auxiliary_head=dict(
                    type='FCNHead',
                    in_channels=160,
                    in_index=2,
                    channels=16,
                    num_convs=1,
                    concat_input=False,
                    dropout_ratio=0.1,
                    num_classes=num_classes,
                    norm_cfg=norm_cfg,
                    align_corners=False,
                    loss_decode=loss),
                train_cfg=dict(),
                test_cfg=dict(mode='whole'))))
