# Copyright (c) mmunireplk contributors. All rights reserved.
"""Drawing of predictions and the prediction grid (tools/visualization.py)."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from tests.helpers import load_tool
from .conftest import DET_DEMO_CONFIG, SEG_DEMO_CONFIG

visualization = load_tool('tools/visualization.py')
draw_cls = visualization.draw_cls
draw_det = visualization.draw_det
draw_seg = visualization.draw_seg
make_grid = visualization.make_grid
save_prediction_grid = visualization.save_prediction_grid

PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_draw_seg_blends_class_colours():
    img = np.full((20, 30, 3), 100, np.uint8)
    seg = np.zeros((20, 30), np.int64)
    seg[:, 15:] = 2
    out = draw_seg(img, seg, ('a', 'b', 'c'), PALETTE, alpha=0.5)
    assert out.shape[1] == 30 and out.shape[0] > 20  # legend strip below
    assert tuple(out[5, 5]) == (178, 50, 50)  # 0.5 * 100 + 0.5 * 255
    assert tuple(out[5, 25]) == (50, 50, 178)
    plain = draw_seg(img, seg, ('a', 'b', 'c'), PALETTE, legend=False)
    assert plain.shape == img.shape
    # the legend shows the classes present: a red and a blue swatch, no green
    legend = out[20:].reshape(-1, 3)
    assert (legend == (255, 0, 0)).all(1).any()
    assert (legend == (0, 0, 255)).all(1).any()
    assert not (legend == (0, 255, 0)).all(1).any()


def test_draw_det_threshold_boxes_and_masks():
    img = np.zeros((60, 80, 3), np.uint8)
    masks = np.zeros((2, 60, 80), bool)
    masks[0, 10:30, 10:40] = True
    masks[1, 35:55, 45:75] = True
    inst = InstanceData(
        bboxes=torch.tensor([[10., 10., 40., 30.], [45., 35., 75., 55.]]),
        scores=torch.tensor([0.9, 0.1]),
        labels=torch.tensor([1, 2]),
        masks=torch.from_numpy(masks))
    out = draw_det(img, inst, ('a', 'b', 'c'), PALETTE, score_thr=0.5)
    assert out.shape == img.shape
    assert tuple(out[28, 35]) == (0, round(0.45 * 255), 0)  # green mask
    assert tuple(out[20, 10]) == (0, 255, 0)  # box edge
    assert not out[40:55, 50:75].any()  # below threshold: not drawn
    big = draw_det(img, inst, ('a', 'b', 'c'), PALETTE, 0.0, min_size=256)
    assert min(big.shape[:2]) >= 256
    assert (big[int(45 * big.shape[0] / 60)] == (0, 0, 255)).all(1).any()


def test_draw_cls_lists_topk():
    img = np.zeros((50, 200, 3), np.uint8)
    out = draw_cls(img, torch.tensor([0.1, 0.7, 0.2]), ('a', 'b', 'c'), 2)
    assert out.shape[1] == 200 and out.shape[0] > 50
    assert (out[50:] < 128).any()  # text drawn on the white strip


def test_make_grid_layout():
    panels = [np.full((10, 20, 3), i * 40, np.uint8) for i in range(5)]
    grid = make_grid(panels, ncols=2, pad=2)
    assert grid.shape == (3 * 12 + 2, 2 * 22 + 2, 3)
    assert (grid[2:12, 2:22] == 0).all() and (grid[2:12, 24:44] == 40).all()
    with pytest.raises(ValueError, match='at least one panel'):
        make_grid([])


def test_save_prediction_grid_seg(seg_ckpts, seg_images, tmp_path):
    out = save_prediction_grid(SEG_DEMO_CONFIG, seg_ckpts[0],
                               seg_images + ['missing.jpg'],
                               str(tmp_path / 'g' / 'predictions.png'),
                               ncols=2)
    grid = cv2.imread(out)
    assert grid is not None and osp.getsize(out) > 0
    # 3 panels at >= 256 px shorter side: 2 columns, 2 rows
    assert grid.shape[0] > 2 * 256 and grid.shape[1] > 2 * 256
    with pytest.raises(ValueError, match='must be a .png'):
        save_prediction_grid(SEG_DEMO_CONFIG, seg_ckpts[0], seg_images,
                             str(tmp_path / 'x.jpg'))
    with pytest.raises(ValueError, match='None of the 1 images'):
        save_prediction_grid(SEG_DEMO_CONFIG, seg_ckpts[0], ['missing.jpg'],
                             str(tmp_path / 'y.png'))


def test_save_prediction_grid_det_deploy(det_ckpts, det_images, tmp_path):
    out = save_prediction_grid(DET_DEMO_CONFIG, det_ckpts[0], det_images,
                               str(tmp_path / 'det.png'), deploy=True,
                               score_thr=0.0, ncols=3)
    grid = cv2.imread(out)
    assert grid.shape[0] >= 256 and grid.shape[1] > 3 * 256
