# Copyright (c) mmunireplk contributors. All rights reserved.
"""End-to-end runs of the segmentation demo (slow: minutes on 2 cores)."""
import glob
import json
import os.path as osp
import sys

import pytest
import torch

from tests.helpers import run_tool
from .conftest import DEMO_CONFIG

# Chance level: 5 balanced-ish classes, a constant prediction scores an mIoU
# below 100 / 5 = 20 (one class at most ~40 IoU, the others 0).
CHANCE_MIOU = 20.0


def _run(args, timeout=600) -> str:
    """Run a tool that must succeed; its stdout and stderr."""
    result = run_tool(args, timeout, check=True)
    return result.stdout + result.stderr


def _data_options(root):
    return [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]


@pytest.mark.slow
def test_demo_learns_and_multiscale_eval_runs(tmp_path):
    """A short demo run is clearly above chance, single- and multi-scale."""
    work_dir = str(tmp_path / 'demo')
    _run([
        sys.executable, 'tools/demo_seg.py', '--work-dir', work_dir,
        '--data-root', str(tmp_path / 'data'), '--max-iters', '100',
        '--num-train', '24', '--num-val', '6'
    ])
    with open(osp.join(work_dir, 'metrics.json')) as f:
        results = json.load(f)['metrics']
    assert osp.getsize(osp.join(work_dir, 'predictions.png')) > 1000
    single, multi = results['single_scale'], results['multi_scale']
    assert single['mIoU'] > 2 * CHANCE_MIOU, single
    assert multi['mIoU'] > 2 * CHANCE_MIOU, multi
    assert set(single['per_class']) == {
        'red_disc', 'green_box', 'blue_stripes', 'yellow_ring',
        'purple_checker'
    }
    assert all(
        isinstance(v['IoU'], float) for v in multi['per_class'].values())


@pytest.mark.slow
def test_distributed_training_two_processes(tmp_path, demo_data_root):
    """tools/dist_train.sh with 2 CPU processes (gloo) trains and saves."""
    work_dir = str(tmp_path / 'dist')
    out = _run([
        'bash', 'tools/dist_train.sh', DEMO_CONFIG, '2', '--work-dir',
        work_dir, '--cfg-options', *_data_options(demo_data_root),
        'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
        'default_hooks.checkpoint.interval=4', 'param_scheduler.0.end=2',
        'param_scheduler.1.end=4', 'train_dataloader.batch_size=2',
        'default_hooks.logger.interval=1'
    ], timeout=400)
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert logs
    log = open(logs[0]).read()
    assert 'Distributed training: True' in log
    assert 'gloo' in log
    assert 'Iter(train) [4/4]' in log
    assert 'mIoU' in log
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth')), out[-2000:]


@pytest.mark.slow
def test_resume_is_exact(tmp_path, demo_data_root):
    """Stopping at iteration 3 and resuming gives the same weights at 6 as
    an uninterrupted run."""
    common = [
        '--cfg-options', *_data_options(demo_data_root),
        'train_cfg.max_iters=6', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        'param_scheduler.0.end=2', 'param_scheduler.1.end=6',
        'train_dataloader.batch_size=2'
    ]
    full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    _run([sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir', full,
          *common])
    _run([
        sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir', resumed,
        '--resume', osp.join(full, 'iter_3.pth'), *common
    ])

    def weights(path):
        return torch.load(path, map_location='cpu',
                          weights_only=False)['state_dict']

    a, b = weights(osp.join(full, 'iter_6.pth')), weights(
        osp.join(resumed, 'iter_6.pth'))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    # and training did change the weights after the resume point
    c = weights(osp.join(full, 'iter_3.pth'))
    assert any(not torch.equal(a[k], c[k]) for k in a)
