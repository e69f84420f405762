# Copyright (c) mmunireplk contributors. All rights reserved.
import json

import pytest
import torch

from mmunireplk.seg import PerClassIoUMetric


def _sample(pred, label):
    return dict(
        pred_sem_seg=dict(data=torch.tensor([pred])),
        gt_sem_seg=dict(data=torch.tensor([label])))


def test_per_class_results():
    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    # class a: 2 hits, 1 false positive; b: 1 hit, 1 miss; c: predicted
    # only on ignored (255) pixels; d: never seen.
    pred = [[0, 0, 0, 1], [1, 2, 3, 0]]
    label = [[0, 0, 1, 1], [255, 255, 255, 255]]
    metric.process({}, [_sample(pred[0], label[0])])
    metric.process({}, [_sample(pred[1], label[1])])
    results = metric.evaluate(2)
    per_class = results['per_class']
    assert per_class['a'] == dict(IoU=pytest.approx(200 / 3, abs=0.01),
                                  Acc=100.0)
    assert per_class['b'] == dict(IoU=50.0, Acc=50.0)
    assert per_class['c'] == dict(IoU=None, Acc=None)
    assert per_class['d'] == dict(IoU=None, Acc=None)
    # summaries agree with mmseg's (NaN classes left out of the mean)
    assert results['mIoU'] == pytest.approx((200 / 3 + 50) / 2, abs=0.01)
    assert results['aAcc'] == 75.0
    assert results['mAcc'] == 75.0
    json.dumps(results)  # plain types only


def test_rejects_other_metrics():
    with pytest.raises(ValueError, match='mIoU only'):
        PerClassIoUMetric(iou_metrics=['mDice'])
