# Copyright (c) mmunireplk contributors. All rights reserved.
"""The backbone is reachable as ``mmunireplk.UniRepLKNet`` from the configs
of every OpenMMLab codebase, and the package imports none of them."""
import subprocess
import sys
import textwrap

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

BACKBONE = dict(
    _delete_=True,
    type='mmunireplk.UniRepLKNet',
    arch='atto',
    drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3))
ATTO_DIMS = [40, 80, 160, 320]


def config_from(tmp_path, text: str) -> Config:
    path = tmp_path / 'cfg.py'
    path.write_text(textwrap.dedent(text))
    return Config.fromfile(str(path))


def test_import_does_not_pull_in_task_codebases():
    code = ('import sys, mmunireplk; '
            'print(sorted({m.split(".")[0] for m in sys.modules} & '
            '{"mmdet", "mmseg", "mmpretrain"}))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


def test_build_from_mmdet_config(tmp_path):
    cfg = config_from(tmp_path, f"""
        _base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
        custom_imports = dict(imports=['mmunireplk'],
                              allow_failed_imports=False)
        model = dict(backbone={BACKBONE!r},
                     neck=dict(in_channels={ATTO_DIMS!r}))
        """)
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    assert type(detector.backbone).__name__ == 'UniRepLKNet'
    assert type(detector.backbone).__module__.startswith('mmunireplk.')
    detector.eval()
    with torch.no_grad():
        feats = detector.extract_feat(torch.randn(1, 3, 64, 96))
    assert len(feats) == 5 and feats[0].shape == (1, 256, 16, 24)


def test_build_from_mmseg_config(tmp_path):
    cfg = config_from(tmp_path, f"""
        _base_ = 'mmseg::_base_/models/upernet_r50.py'
        custom_imports = dict(imports=['mmunireplk'],
                              allow_failed_imports=False)
        norm_cfg = dict(type='BN', requires_grad=True)
        model = dict(
            data_preprocessor=dict(size=(64, 64)),
            pretrained=None,
            backbone={BACKBONE!r},
            decode_head=dict(in_channels={ATTO_DIMS!r}, norm_cfg=norm_cfg,
                             num_classes=5),
            auxiliary_head=dict(in_channels=160, norm_cfg=norm_cfg,
                                num_classes=5))
        """)
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    segmentor = MODELS.build(cfg.model)
    assert type(segmentor.backbone).__name__ == 'UniRepLKNet'
    segmentor.eval()
    with torch.no_grad():
        logits = segmentor(torch.randn(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 5, 16, 16)


def test_build_from_mmpretrain_config():
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    classifier = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='mmunireplk.UniRepLKNet', arch='atto',
                          out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=320)))
    classifier.eval()
    with torch.no_grad():
        scores = classifier(torch.randn(2, 3, 64, 64), mode='tensor')
    assert scores.shape == (2, 10)
