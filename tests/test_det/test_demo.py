# Copyright (c) mmunireplk contributors. All rights reserved.
"""The CPU demo learns: a short run reaches clearly-above-chance AP."""
import importlib.util
import json
import os.path as osp

import pytest

from .conftest import REPO

import mmdet  # noqa: E402,F401  (installed by tools/install.sh)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason='known open problem (issue 3): Cascade Mask R-CNN with a '
    'UniRepLKNet-A backbone trained from scratch reaches AP 0 on the demo '
    'data in this budget, while the same demo with ResNet-18 reaches box AP '
    '0.76; strict, so a fix makes this test report XPASS and fail')
def test_short_demo_run_learns(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'demo_det', osp.join(REPO, 'tools', 'demo_det.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    work_dir = str(tmp_path / 'work')
    result = demo.main([
        '--data-root', str(tmp_path / 'data'), '--work-dir', work_dir,
        '--num-train', '64', '--num-val', '16', '--epochs', '8',
        '--cfg-options', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    assert json.load(open(osp.join(work_dir, 'metrics.json'))) == result
    # random boxes score ~0 AP on this data; a model that learned the
    # shapes finds most objects at IoU 0.5
    assert result['bbox_mAP_50'] > 0.2, result
    assert result['segm_mAP_50'] > 0.1, result
