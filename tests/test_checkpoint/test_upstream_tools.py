# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmdet's and mmseg's own tools train, resume and test our demo configs:
the checkpoints they write (through ``custom_hooks`` of our configs) load
weights-only, and the safe loader that ``custom_imports`` installs reads
them back."""
import os.path as osp

import pytest
import torch

from tests.test_det.conftest import DEMO_CONFIG as DET_DEMO_CONFIG
from tests.test_det.test_tools import tiny_options as det_tiny_options
from tests.helpers import run_tool as run
from .conftest import SEG_DEMO_CONFIG
from .test_safe_loading import seg_tiny_options


def upstream_tool(package: str, name: str) -> str:
    module = __import__(package)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'tools', name)
    assert osp.isfile(path), path
    return path


def check_output(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


@pytest.mark.slow
def test_mmdet_tools(tmp_path, det_data_root):
    work = str(tmp_path / 'det')
    train = upstream_tool('mmdet', 'train.py')
    check_output(run([train, DET_DEMO_CONFIG, '--work-dir', work,
                      '--cfg-options', *det_tiny_options(det_data_root, 1)]))
    first = osp.join(work, 'epoch_1.pth')
    assert 'message_hub' in torch.load(first, weights_only=True)
    log = check_output(run([train, DET_DEMO_CONFIG, '--work-dir', work,
                            '--resume', '--cfg-options',
                            *det_tiny_options(det_data_root, 2)]))
    assert 'resumed epoch: 1' in log
    assert 'Restored the RNG states' in log
    torch.load(osp.join(work, 'epoch_2.pth'), weights_only=True)
    log = check_output(run([
        upstream_tool('mmdet', 'test.py'), DET_DEMO_CONFIG,
        osp.join(work, 'epoch_2.pth'), '--work-dir', work, '--cfg-options',
        *det_tiny_options(det_data_root)
    ]))
    assert 'coco/bbox_mAP' in log


@pytest.mark.slow
def test_mmseg_tools_with_tta(tmp_path, seg_data_root):
    work = str(tmp_path / 'seg')
    train = upstream_tool('mmseg', 'train.py')
    options = seg_tiny_options(seg_data_root)
    check_output(run([train, SEG_DEMO_CONFIG, '--work-dir', work,
                      '--cfg-options', *options]))
    torch.load(osp.join(work, 'iter_1.pth'), weights_only=True)
    resumed = options + ['train_cfg.max_iters=2']
    log = check_output(run([train, SEG_DEMO_CONFIG, '--work-dir', work,
                            '--resume', '--cfg-options', *resumed]))
    assert 'resumed epoch: 0, iter: 1' in log
    assert 'Restored the RNG states' in log
    test = upstream_tool('mmseg', 'test.py')
    for extra in ([], ['--tta']):
        log = check_output(run([test, SEG_DEMO_CONFIG,
                                osp.join(work, 'iter_2.pth'), '--work-dir',
                                work, *extra, '--cfg-options', *options]))
        assert 'mIoU' in log
