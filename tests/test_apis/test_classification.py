# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmpretrain's ImageClassificationInferencer, ImagePredictor, image_demo
and the prediction grid with the classification configs."""
import json
import os.path as osp

import cv2
import pytest
import torch
from mmengine.config import Config

from mmunireplk.apis import ImagePredictor
from tests.helpers import load_tool
from .conftest import (REPO, build_model, save_checkpoint,
                       save_deploy_checkpoint)

CLS_DEMO_CONFIG = osp.join(REPO, 'configs', '_demo_',
                           'unireplknet-a_cls-demo.py')
CLS_T_CONFIG = osp.join(REPO, 'configs', 'unireplknet',
                        'unireplknet-t_32xb128_in1k.py')
CLS_META = dict(classes=('c0', 'c1', 'c2', 'c3', 'c4'))


@pytest.fixture(scope='module')
def cls_ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp('cls_ckpt')
    model = build_model(CLS_DEMO_CONFIG, 'cls')
    return (save_checkpoint(model, root / 'cls.pth', CLS_META),
            save_deploy_checkpoint(model, root / 'cls_deploy.pth', CLS_META))


def test_image_classification_inferencer_both_forms(cls_ckpts, seg_images):
    from mmengine.registry import init_default_scope
    from mmpretrain.apis import ImageClassificationInferencer

    # mmpretrain's inferencer builds its pipeline in the current default
    # scope, which an mmdet / mmseg inferencer used earlier in the same
    # process leaves at 'mmdet' / 'mmseg' (upstream behaviour; our
    # ImagePredictor sets the scope itself).
    init_default_scope('mmpretrain')
    train = ImageClassificationInferencer(
        model=CLS_DEMO_CONFIG, pretrained=cls_ckpts[0], device='cpu')
    cfg = Config.fromfile(CLS_DEMO_CONFIG)
    cfg.model.backbone.deploy = True
    deploy = ImageClassificationInferencer(
        model=cfg, pretrained=cls_ckpts[1], device='cpu')
    assert deploy.model.backbone.deploy and not train.model.backbone.deploy
    a = train(seg_images[:2])
    b = deploy(seg_images[:2])
    assert len(a) == 2
    for x, y in zip(a, b):
        assert x['pred_class'] in CLS_META['classes']
        assert x['pred_label'] == y['pred_label']
        assert torch.allclose(
            torch.tensor(x['pred_scores']), torch.tensor(y['pred_scores']),
            atol=1e-4)
        assert abs(sum(x['pred_scores']) - 1) < 1e-4


@pytest.mark.timeout(300)
def test_predictor_builds_in_its_task_scope(cls_ckpts, seg_images):
    """A classifier predictor built while another codebase's scope is the
    default (as an mmdet / mmseg model or runner built earlier in the
    process leaves it) builds mmpretrain's pipeline."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        predictor = ImagePredictor(CLS_DEMO_CONFIG, cls_ckpts[0])
        scores = predictor.predict(seg_images[0]).pred_score
    assert scores.shape == (len(CLS_META['classes']), )


def test_published_config_deploy_predictor(tmp_path, seg_images):
    model = build_model(CLS_T_CONFIG, 'cls')
    ckpt = save_checkpoint(model, tmp_path / 't.pth')
    train = ImagePredictor(CLS_T_CONFIG, ckpt)
    deploy = ImagePredictor(CLS_T_CONFIG, ckpt, deploy=True)
    assert len(train.classes) == 1000  # ImageNet names by default
    assert train.classes[0].startswith('tench')
    a = train.predict(seg_images[0]).pred_score
    b = deploy.predict(seg_images[0]).pred_score
    assert a.shape == (1000, )
    assert torch.allclose(a, b, atol=1e-5)


def test_image_demo_and_grid(cls_ckpts, seg_images, tmp_path):
    tool = load_tool('tools/image_demo.py')
    out_dir = tmp_path / 'cls'
    result = tool.main([seg_images[0], CLS_DEMO_CONFIG, '--weights',
                        cls_ckpts[0], '--out-dir', str(out_dir),
                        '--topk', '3', '--deploy'])
    assert len(result['written']) == 1
    name = osp.splitext(osp.basename(seg_images[0]))[0]
    record = json.loads((out_dir / 'preds' / f'{name}.json').read_text())
    assert record['task'] == 'cls' and len(record['topk']) == 3
    scores = [t['score'] for t in record['topk']]
    assert scores == sorted(scores, reverse=True)
    assert all(t['name'] == CLS_META['classes'][t['label']]
               for t in record['topk'])
    visualization = load_tool('tools/visualization.py')
    grid = visualization.save_prediction_grid(
        CLS_DEMO_CONFIG, cls_ckpts[0], seg_images, str(tmp_path / 'cls.png'),
        ncols=3)
    assert cv2.imread(grid).shape[1] > 3 * 256
