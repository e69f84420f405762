# Copyright (c) mmunireplk contributors. All rights reserved.
"""tools/train.py, tools/test.py, dist_train.sh, the mmdet 2.x converter and
the handling of bad or unusual data, on tiny generated datasets."""
import json
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import List

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmunireplk.apis.builder import strict_load_check
from mmunireplk.checkpoint import (convert_file, convert_mmdet2_checkpoint,
                                   legacy_ema_key, load_checkpoint_file)
from tests.helpers import load_tool, run_tool
from .conftest import DEMO_CONFIG

import mmdet  # noqa: E402,F401  (installed by tools/install.sh)

generate_demo_coco = load_tool('tools/demo_det_data.py').generate_demo_coco


def tiny_options(root: str, epochs: int = 1) -> List[str]:
    """--cfg-options that point the demo config at a tiny dataset."""
    root = osp.join(root, '')
    options = [
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=5',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2'
    ]
    for loader in ('train', 'val', 'test'):
        options += [
            f'{loader}_dataloader.dataset.data_root={root}',
            f'{loader}_dataloader.num_workers=0',
            f'{loader}_dataloader.persistent_workers=False'
        ]
    for evaluator in ('val', 'test'):
        options.append(f'{evaluator}_evaluator.ann_file='
                       f'{root}annotations/instances_val.json')
    return options


def run_tool_output(args: List[str], timeout: int = 300) -> str:
    """Run a tool that must succeed; its stdout and stderr."""
    result = run_tool(args, timeout, check=True)
    return result.stdout + result.stderr


def train(work_dir: str, root: str, epochs: int, *extra: str) -> str:
    return run_tool_output([
        sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir', work_dir,
        *extra, '--cfg-options', *tiny_options(root, epochs)
    ])


def model_weights(path: str) -> dict:
    """The weights of a checkpoint that training wrote, which loads with
    torch's own weights-only loader (no allow-list)."""
    return torch.load(path, map_location='cpu',
                      weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def odd_root(tmp_path_factory) -> str:
    """Images smaller than the backbone stride (24x20 < 32), two of them
    without any object."""
    root = str(tmp_path_factory.mktemp('det_odd'))
    generate_demo_coco(root, num_train=6, num_val=4, img_size=(24, 20),
                       num_empty=2)
    return root


@pytest.mark.slow
def test_train_and_test_tiny_and_empty_images(odd_root, tmp_path):
    """Training skips object-less images, tiny images train and evaluate,
    test.py loads the checkpoint (torch>=2.6) and writes metrics JSON."""
    work_dir = str(tmp_path / 'work')
    log = train(work_dir, odd_root, 1, '--amp')
    if not torch.cuda.is_available():
        assert '--amp fp16 needs a CUDA GPU' in log
        assert 'SyncBN converted to BN' in log
    # 6 images, 2 without objects -> 4 train images -> 2 iterations
    assert 'Epoch(train) [1][2/2]' in log
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    weights = model_weights(ckpt)
    assert all(torch.isfinite(v).all() for v in weights.values()
               if v.is_floating_point())

    json_out = str(tmp_path / 'metrics.json')
    out = run_tool_output([
        sys.executable, 'tools/test.py', DEMO_CONFIG, ckpt, '--work-dir',
        work_dir, '--json-out', json_out, '--out',
        str(tmp_path / 'preds.pkl'), '--cfg-options',
        *tiny_options(odd_root)
    ])
    assert 'metrics: {' in out
    metrics = json.load(open(json_out))['metrics']
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)
    assert osp.getsize(tmp_path / 'preds.pkl') > 0


@pytest.mark.slow
def test_resume_is_exact(demo_root, tmp_path):
    """Stopping after epoch 1 and resuming gives the same weights after
    epoch 2 as the uninterrupted run."""
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    train(full, demo_root, 2)
    train(part, demo_root, 1)
    log = train(part, demo_root, 2, '--resume')
    assert 'resumed epoch: 1' in log
    assert 'Restored the RNG states' in log
    expected = model_weights(osp.join(full, 'epoch_2.pth'))
    resumed = model_weights(osp.join(part, 'epoch_2.pth'))
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.equal(expected[key], resumed[key]), key
    # and epoch 2 did change the weights
    first = model_weights(osp.join(part, 'epoch_1.pth'))
    assert any(not torch.equal(first[k], expected[k]) for k in expected)


@pytest.mark.slow
def test_dist_train_two_processes_on_cpu(demo_root, tmp_path):
    work_dir = str(tmp_path / 'dist')
    result = run_tool(
        ['bash', 'tools/dist_train.sh', DEMO_CONFIG, '2', '--work-dir',
         work_dir, '--cfg-options', *tiny_options(demo_root)],
        timeout=400, check=True, PORT='29613')
    output = result.stdout + result.stderr
    if not torch.cuda.is_available():
        assert 'gloo' in output
    # 8 images, 2 processes x 2 images per step -> 2 iterations per epoch
    assert 'Epoch(train) [1][2/2]' in output
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


def test_missing_annotation_file(demo_root, mmdet_scope):
    from mmdet.registry import DATASETS
    cfg = Config.fromfile(DEMO_CONFIG)
    dataset = dict(cfg.train_dataloader.dataset, data_root=demo_root,
                   ann_file='annotations/missing.json')
    with pytest.raises(FileNotFoundError, match='missing.json'):
        DATASETS.build(dataset)


def test_missing_and_corrupt_images(tmp_path, mmdet_scope):
    from mmdet.registry import DATASETS
    root = str(tmp_path)
    generate_demo_coco(root, num_train=3, num_val=1, img_size=(32, 32))
    cfg = Config.fromfile(DEMO_CONFIG)
    dataset = DATASETS.build(
        dict(cfg.train_dataloader.dataset, data_root=osp.join(root, '')))
    assert dataset[0]['inputs'].shape[0] == 3
    os.remove(osp.join(root, 'train', '000001.png'))
    with pytest.raises(FileNotFoundError, match='000001.png'):
        dataset[1]
    with open(osp.join(root, 'train', '000002.png'), 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(Exception, match='failed to load image.*000002.png'):
        dataset[2]


def test_images_smaller_than_stride(odd_root, mmdet_scope):
    """Images below the total stride (24x20 < 32 px): the pipelines scale
    them up; at native size the detector still predicts, and RPN training
    fails with mmdet's clear message (no anchor inside the image)."""
    from mmdet.registry import DATASETS, MODELS
    from mmdet.testing import demo_mm_inputs

    from mmunireplk.utils import sync_bn_to_bn
    cfg = Config.fromfile(DEMO_CONFIG)
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = DATASETS.build(
            dict(cfg[loader].dataset, data_root=osp.join(odd_root, '')))
        height, width = dataset[0]['inputs'].shape[-2:]
        assert min(height, width) >= 96, (loader, height, width)

    torch.manual_seed(0)
    sync_bn_to_bn(cfg.model)
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(2, [[3, 20, 24]] * 2, num_items=[1, 2],
                            with_mask=True, num_classes=3)
    data = model.data_preprocessor(packed, False)
    assert data['inputs'].shape[-2:] == (32, 32)  # padded to the stride
    model.eval()
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    for result in results:
        assert torch.isfinite(result.pred_instances.bboxes).all()
    model.train()
    with pytest.raises(ValueError, match='no valid anchor inside the image'):
        model.loss(data['inputs'], data['data_samples'])


def test_mmdet2_checkpoint_converts_and_loads_strictly(tmp_path, mmdet_scope):
    """A checkpoint in the mmdet 2.x runner layout (optimizer, meta with
    CLASSES, ema_* buffers) converts into one that loads strictly."""
    import re

    from mmdet.registry import MODELS

    from mmunireplk.utils import sync_bn_to_bn
    cfg = Config.fromfile(DEMO_CONFIG)
    sync_bn_to_bn(cfg.model)
    model = MODELS.build(cfg.model)
    weights = model.state_dict()
    # the mmdet 2.28 names of this model's modules (non-backbone part)
    legacy_names = [
        r'neck\.(lateral|fpn)_convs\.\d\.conv\.(weight|bias)',
        r'rpn_head\.rpn_(conv|cls|reg)\.(weight|bias)',
        r'roi_head\.bbox_head\.\d\.shared_convs\.\d\.conv\.weight',
        r'roi_head\.bbox_head\.\d\.shared_convs\.\d\.bn\.'
        r'(weight|bias|running_mean|running_var|num_batches_tracked)',
        r'roi_head\.bbox_head\.\d\.(shared_fcs\.0|fc_cls|fc_reg)\.'
        r'(weight|bias)',
        r'roi_head\.mask_head\.\d\.convs\.\d\.conv\.(weight|bias)',
        r'roi_head\.mask_head\.\d\.(upsample|conv_logits)\.(weight|bias)',
    ]
    for key in weights:
        assert key.startswith('backbone.') or any(
            re.fullmatch(p, key) for p in legacy_names), key

    state_dict = OrderedDict(('module.' + k, v) for k, v in weights.items())
    for key, value in weights.items():
        if value.is_floating_point():
            state_dict[legacy_ema_key(key)] = value + 1
    legacy = dict(
        state_dict=state_dict,
        optimizer=dict(state={}, param_groups=[dict(lr=1e-4)]),
        # what an mmcv 1.x runner writes (numpy scalars among them)
        meta=dict(CLASSES=('rectangle', 'ellipse', 'triangle'), epoch=36,
                  iter=np.int64(88704), mmdet_version='2.28.1',
                  mmcv_version='1.7.1', env_info='sys.platform: linux',
                  config='model = dict(...)', seed=0, exp_name='casc.py',
                  hook_msgs=dict(last_ckpt='work_dirs/epoch_36.pth',
                                 best_score=np.float64(0.517))))
    src = str(tmp_path / 'legacy.pth')
    torch.save(legacy, src)
    assert load_checkpoint_file(src)['meta']['epoch'] == 36  # weights-only
    converter = load_tool('tools/model_converters/'
                          'unireplknet_mmdet2_to_mmdet3.py')
    for use_ema, offset in ((False, 0), (True, 1)):
        dst = str(tmp_path / f'converted_{use_ema}.pth')
        report = convert_file(src, dst, convert_mmdet2_checkpoint,
                              strict_load_check(DEMO_CONFIG),
                              ema_buffers=use_ema).format()
        assert 'loads strictly into' in report and 'renamed keys' in report
        assert 'dropped EMA buffers' in report and 'optimizer' in report
        converted = torch.load(dst, weights_only=True)
        assert converted['meta']['dataset_meta']['classes'] == [
            'rectangle', 'ellipse', 'triangle'
        ]
        for key, value in weights.items():
            if value.is_floating_point():
                assert torch.equal(converted['state_dict'][key],
                                   value + offset), key
    # a checkpoint of another model does not load strictly: clear error
    del state_dict['module.rpn_head.rpn_cls.weight']
    torch.save(dict(state_dict=state_dict), src)
    bad = str(tmp_path / 'bad.pth')
    with pytest.raises(RuntimeError, match='rpn_head.rpn_cls.weight'):
        converter.main([src, bad, '--config', DEMO_CONFIG])
    assert not osp.exists(bad)
