# Copyright (c) mmunireplk contributors. All rights reserved.
"""The upstream inferencers run our configs and checkpoints as they are:
mmseg's ``init_model``/``inference_model`` and ``MMSegInferencer``, mmdet's
``DetInferencer``, in training and deploy form, with no import besides
what the configs' ``custom_imports`` do. mmengine reads the checkpoints
through the weights-only loaders, installed as a tool installs them."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmunireplk.checkpoint import install_safe_loaders
from tests.helpers import load_tool
from .conftest import (DET_DEMO_CONFIG, DET_META, SEG_DEMO_CONFIG, SEG_META,
                       SEG_T_CONFIG, build_model, save_checkpoint,
                       save_deploy_checkpoint)


@pytest.fixture(autouse=True, scope='module')
def _safe_loaders():
    install_safe_loaders()


def _image_hw(path):
    import mmcv
    return mmcv.imread(path).shape[:2]


# --- mmseg -----------------------------------------------------------------

@pytest.mark.parametrize('form', ['training', 'deploy'])
def test_mmseg_inference_model_demo_config(seg_ckpts, seg_images, form):
    from mmseg.apis import inference_model, init_model
    ckpt = seg_ckpts[0] if form == 'training' else seg_ckpts[1]
    options = {'model.backbone.deploy': True} if form == 'deploy' else None
    model = init_model(SEG_DEMO_CONFIG, ckpt, device='cpu',
                       cfg_options=options)
    assert model.backbone.deploy == (form == 'deploy')
    assert model.dataset_meta['classes'] == SEG_META['classes']
    results = inference_model(model, seg_images[:2])
    assert len(results) == 2
    for path, res in zip(seg_images, results):
        seg = res.pred_sem_seg.data
        assert tuple(seg.shape[1:]) == _image_hw(path)
        assert int(seg.max()) < 5 and 'gt_sem_seg' not in res
    # a single array input (BGR, as mmcv.imread gives it)
    import mmcv
    one = inference_model(model, mmcv.imread(seg_images[0]))
    assert torch.equal(one.pred_sem_seg.data, results[0].pred_sem_seg.data)


def test_mmseg_training_and_deploy_forms_agree(seg_ckpts, seg_images):
    from mmseg.apis import inference_model, init_model
    train = init_model(SEG_DEMO_CONFIG, seg_ckpts[0], device='cpu')
    deploy = init_model(SEG_DEMO_CONFIG, seg_ckpts[1], device='cpu',
                        cfg_options={'model.backbone.deploy': True})
    a = inference_model(train, seg_images[0]).seg_logits.data
    b = inference_model(deploy, seg_images[0]).seg_logits.data
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4), (a - b).abs().max()


@pytest.mark.parametrize('form', ['training', 'deploy'])
def test_mmseg_inferencer_demo_config(seg_ckpts, seg_images, tmp_path, form):
    from mmseg.apis import MMSegInferencer
    if form == 'training':
        config, ckpt = SEG_DEMO_CONFIG, seg_ckpts[0]
    else:
        config = Config.fromfile(SEG_DEMO_CONFIG)
        config.model.backbone.deploy = True
        ckpt = seg_ckpts[1]
    inferencer = MMSegInferencer(model=config, weights=ckpt, device='cpu')
    # with return_datasamples, mmseg returns the data samples themselves
    preds = inferencer(
        seg_images, out_dir=str(tmp_path), return_datasamples=True)
    assert len(preds) == len(seg_images)
    for path, pred in zip(seg_images, preds):
        assert tuple(pred.pred_sem_seg.shape) == _image_hw(path)
    assert inferencer.visualizer.dataset_meta['classes'] == SEG_META['classes']
    assert len(list((tmp_path / 'vis').iterdir())) == len(seg_images)


def _small_published_seg_config():
    """The published T config with a small test scale (CPU-friendly)."""
    cfg = Config.fromfile(SEG_T_CONFIG)
    cfg.model.backbone.init_cfg = None
    for pipeline in (cfg.test_pipeline,
                     cfg.test_dataloader.dataset.pipeline):
        for t in pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (128, 64)
    return cfg


@pytest.fixture(scope='module')
def published_seg(tmp_path_factory, seg_images):
    root = tmp_path_factory.mktemp('seg_t')
    cfg = _small_published_seg_config()
    model = build_model(copy.deepcopy(cfg), 'seg')
    return cfg, (save_checkpoint(model, root / 't.pth'),
                 save_deploy_checkpoint(model, root / 't_deploy.pth'))


def test_published_seg_config_inference_model_and_inferencer(
        published_seg, seg_images):
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    cfg, (ckpt, deploy_ckpt) = published_seg
    # the unmodified published test pipeline still holds the checked loader
    assert any(t['type'] == 'mmunireplk.LoadCheckedAnnotations'
               for t in Config.fromfile(SEG_T_CONFIG).test_pipeline)
    train = init_model(copy.deepcopy(cfg), ckpt, device='cpu')
    deploy_cfg = copy.deepcopy(cfg)
    deploy_cfg.model.backbone.deploy = True
    deploy = init_model(deploy_cfg, deploy_ckpt, device='cpu')
    a = inference_model(train, seg_images[0])
    b = inference_model(deploy, seg_images[0])
    assert tuple(a.pred_sem_seg.shape) == _image_hw(seg_images[0])
    assert a.seg_logits.data.shape[0] == 150
    assert torch.allclose(a.seg_logits.data, b.seg_logits.data, rtol=1e-3,
                          atol=1e-3)
    inferencer = MMSegInferencer(
        model=deploy_cfg, weights=deploy_ckpt, device='cpu')
    pred = inferencer(seg_images[0], return_datasamples=True)
    assert torch.equal(pred.pred_sem_seg.data, b.pred_sem_seg.data)


def test_checked_annotations_still_check_dataset_samples(tmp_path):
    """Evaluation keeps the label checks: a dataset sample without a label
    map raises, one with a label map is loaded."""
    from mmseg.registry import DATASETS

    from mmunireplk.seg import LoadCheckedAnnotations
    generate_ade20k_demo = load_tool(
        'tools/demo_seg_data.py').generate_ade20k_demo
    root = str(tmp_path / 'ade')
    generate_ade20k_demo(root, num_train=1, num_val=1, seed=0)
    cfg = Config.fromfile(SEG_DEMO_CONFIG)
    dataset_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    dataset_cfg.data_root = root
    dataset = DATASETS.build(dataset_cfg)
    assert 'gt_sem_seg' in dataset[0]['data_samples']
    dataset_cfg.data_prefix = dict(img_path='images/validation')
    no_labels = DATASETS.build(dataset_cfg)
    with pytest.raises(FileNotFoundError, match='No label map is given'):
        no_labels[0]
    transform = LoadCheckedAnnotations(num_classes=5, reduce_zero_label=True)
    with pytest.raises(FileNotFoundError, match='No label map is given'):
        transform(dict(img_path='a.jpg', seg_map_path=None, sample_idx=0))
    bare = dict(img_path='a.jpg', img=np.zeros((4, 4, 3), np.uint8))
    assert transform(dict(bare)).keys() == bare.keys()


# --- mmdet -----------------------------------------------------------------

@pytest.mark.parametrize('form', ['training', 'deploy'])
def test_det_inferencer_demo_config(det_ckpts, det_images, tmp_path, form):
    from mmdet.apis import DetInferencer
    if form == 'training':
        config, ckpt = DET_DEMO_CONFIG, det_ckpts[0]
    else:
        config = Config.fromfile(DET_DEMO_CONFIG)
        config.model.backbone.deploy = True
        ckpt = det_ckpts[1]
    inferencer = DetInferencer(
        model=config, weights=ckpt, device='cpu', show_progress=False)
    assert inferencer.model.backbone.deploy == (form == 'deploy')
    assert inferencer.model.dataset_meta['classes'] == DET_META['classes']
    out = inferencer(det_images[:2], out_dir=str(tmp_path), no_save_pred=False)
    for path, pred in zip(det_images, out['predictions']):
        h, w = _image_hw(path)
        assert len(pred['bboxes']) == len(pred['scores']) <= 20  # max_per_img
        assert all(0 <= label < 3 for label in pred['labels'])
        assert all(-1e-3 <= x1 <= x2 <= w + 1e-3 and -1e-3 <= y1 <= y2 <= h
                   + 1e-3 for x1, y1, x2, y2 in pred['bboxes'])
        assert len(pred['masks']) == len(pred['bboxes'])
    assert len(list((tmp_path / 'preds').glob('*.json'))) == 2
    assert len(list((tmp_path / 'vis').iterdir())) == 2
