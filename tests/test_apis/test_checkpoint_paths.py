# Copyright (c) mmunireplk contributors. All rights reserved.
"""Checkpoints reach the model through every inference path.

``ImagePredictor`` (and ``tools/image_demo.py`` through it) reads the file
itself, weights-only; mmseg's ``init_model`` / ``MMSegInferencer``, mmdet's
``init_detector`` / ``DetInferencer`` and mmpretrain's
``ImageClassificationInferencer`` read it through mmengine's loader, here
with the weights-only loaders installed as our tools install them. Two kinds
of file: a runner checkpoint as the demos write it (``SafeCheckpointHook``:
runner state as plain data) and a file in the public (mmcv 1.x runner)
format, whose ``meta`` holds numpy values.
"""
import copy
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mmunireplk.apis import ImagePredictor
from mmunireplk.checkpoint import install_safe_loaders
from mmunireplk.checkpoint.runner_state import PLAIN_HUB_KEY
from tests.helpers import REPO, load_tool
from .conftest import (DET_DEMO_CONFIG, DET_META, SEG_DEMO_CONFIG, SEG_META,
                       build_model)

CLS_DEMO_CONFIG = osp.join(REPO, 'configs', '_demo_',
                           'unireplknet-a_cls-demo.py')
CLS_META = dict(classes=('c0', 'c1', 'c2', 'c3', 'c4'))
FORMATS = ('demo_runner', 'public')


@pytest.fixture(autouse=True, scope='module')
def _safe_loaders():
    install_safe_loaders()


@pytest.fixture(scope='module')
def demo_runner_checkpoint(tmp_path_factory):
    """A checkpoint written by one training iteration of the segmentation
    demo, prepared as the demo prepares its config (SafeCheckpointHook)."""
    from mmengine.runner import Runner
    demo_seg = load_tool('tools/demo_seg.py')
    demo_utils = load_tool('tools/demo_utils.py')
    root = tmp_path_factory.mktemp('seg_demo_run')
    spec = demo_seg.seg_demo_spec()
    data_root, work_dir = str(root / 'data'), str(root / 'work')
    demo_utils.ensure_demo_data(
        data_root, spec.generate,
        **dict(spec.data_params, num_train=2, num_val=1))
    cfg = demo_utils.build_demo_config(
        spec, data_root, work_dir,
        cfg_options={
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'train_dataloader.batch_size': 2
        },
        adjust=lambda cfg: demo_seg.set_max_iters(cfg, 1))
    Runner.from_cfg(cfg).train()
    path = f'{work_dir}/iter_1.pth'
    # runner state stored as plain data: torch reads it weights-only as is
    checkpoint = torch.load(path, weights_only=True)
    assert PLAIN_HUB_KEY in checkpoint['message_hub']
    assert 'rng_state' in checkpoint
    return checkpoint


def _write(path, state_dict, fmt, runner_checkpoint, meta):
    """``state_dict`` in a file of format ``fmt``."""
    if fmt == 'demo_runner':
        checkpoint = {
            k: copy.deepcopy(v)
            for k, v in runner_checkpoint.items()
            if k in ('meta', 'message_hub', 'rng_state')
        }
        checkpoint['meta']['dataset_meta'] = meta
        checkpoint['state_dict'] = state_dict
    else:
        # what mmcv 1.x runners wrote: class names (and colours) under
        # CLASSES (PALETTE), a numpy seed and best score (globals that
        # torch's plain weights-only loading refuses)
        checkpoint = dict(
            state_dict=state_dict,
            meta=dict(
                CLASSES=meta['classes'],
                seed=np.int64(1234),
                epoch=1,
                hook_msgs=dict(best_score=np.float64(0.5),
                               scores=np.array([0.25, 0.5]))))
        if 'palette' in meta:
            checkpoint['meta']['PALETTE'] = meta['palette']
    torch.save(checkpoint, str(path))
    if fmt == 'public':
        with pytest.raises(pickle.UnpicklingError):
            torch.load(str(path), weights_only=True)
    return str(path)


def _assert_loaded(model, state_dict):
    loaded = model.state_dict()
    for key, value in state_dict.items():
        assert torch.equal(loaded[key].cpu(), value), key


@pytest.fixture(scope='module')
def files(tmp_path_factory, demo_runner_checkpoint):
    """task -> format -> (file, the state dict it holds)."""
    root = tmp_path_factory.mktemp('formats')
    out = {}
    for task, config, meta in (('seg', SEG_DEMO_CONFIG, SEG_META),
                               ('det', DET_DEMO_CONFIG, DET_META),
                               ('cls', CLS_DEMO_CONFIG, CLS_META)):
        state_dict = build_model(config, task).state_dict()
        out[task] = {
            fmt: (_write(root / f'{task}_{fmt}.pth', state_dict, fmt,
                         demo_runner_checkpoint, meta), state_dict)
            for fmt in FORMATS
        }
    return out


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize('fmt', FORMATS)
def test_seg_paths(files, fmt, seg_images, tmp_path):
    from mmseg.apis import MMSegInferencer, init_model
    path, state_dict = files['seg'][fmt]
    predictor = ImagePredictor(SEG_DEMO_CONFIG, path)
    _assert_loaded(predictor.model, state_dict)
    assert predictor.classes == SEG_META['classes']
    _assert_loaded(init_model(SEG_DEMO_CONFIG, path, device='cpu'),
                   state_dict)
    inferencer = MMSegInferencer(
        model=SEG_DEMO_CONFIG, weights=path, device='cpu')
    _assert_loaded(inferencer.model, state_dict)
    result = load_tool('tools/image_demo.py').main(
        [seg_images[0], SEG_DEMO_CONFIG, '--weights', path, '--out-dir',
         str(tmp_path / 'out')])
    assert result['written'] == [seg_images[0]]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize('fmt', FORMATS)
def test_det_paths(files, fmt):
    from mmdet.apis import DetInferencer, init_detector
    path, state_dict = files['det'][fmt]
    predictor = ImagePredictor(DET_DEMO_CONFIG, path)
    _assert_loaded(predictor.model, state_dict)
    assert predictor.classes == DET_META['classes']
    detector = init_detector(DET_DEMO_CONFIG, path, device='cpu')
    _assert_loaded(detector, state_dict)
    assert tuple(detector.dataset_meta['classes']) == DET_META['classes']
    inferencer = DetInferencer(
        model=DET_DEMO_CONFIG, weights=path, device='cpu',
        show_progress=False)
    _assert_loaded(inferencer.model, state_dict)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize('fmt', FORMATS)
def test_cls_paths(files, fmt):
    from mmengine.registry import init_default_scope
    from mmpretrain.apis import ImageClassificationInferencer
    path, state_dict = files['cls'][fmt]
    predictor = ImagePredictor(CLS_DEMO_CONFIG, path)
    _assert_loaded(predictor.model, state_dict)
    init_default_scope('mmpretrain')  # see test_classification.py
    inferencer = ImageClassificationInferencer(
        model=CLS_DEMO_CONFIG, pretrained=path, device='cpu')
    _assert_loaded(inferencer.model, state_dict)
