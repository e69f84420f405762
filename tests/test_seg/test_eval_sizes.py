# Copyright (c) mmunireplk contributors. All rights reserved.
"""The exact input sizes of single- and multi-scale evaluation.

Expected sizes are worked out by hand for a 300x400 (HxW) image:
keep-ratio resize to (2048r, 512r) scales by ``min(2048r/400, 512r/300)``
(mmcv rounds ``w * f + 0.5`` down), then each side is rounded *up* to a
multiple of 32. E.g. r = 1.75: f = 2.98667 -> 1195 x 896 -> 1216 x 896.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from PIL import Image

from .conftest import CONFIG_DIR, DEMO_CONFIG

# (H, W) per ratio 0.5, 0.75, 1.0, 1.25, 1.5, 1.75 for a 300x400 image.
SIZES_512 = [(256, 352), (384, 512), (512, 704), (640, 864), (768, 1024),
             (896, 1216)]
SIZES_640 = [(320, 448), (480, 640), (640, 864), (800, 1088), (960, 1280),
             (1120, 1504)]


@pytest.fixture
def image_300x400(tmp_path):
    rng = np.random.default_rng(0)
    img_path = str(tmp_path / 'img.jpg')
    seg_path = str(tmp_path / 'img.png')
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(
        img_path)
    Image.fromarray(rng.integers(0, 151, (300, 400), np.uint8)).save(seg_path)
    return dict(
        img_path=img_path,
        seg_map_path=seg_path,
        reduce_zero_label=True,
        seg_fields=[])


@pytest.mark.parametrize('name,single,multi', [
    ('upernet_unireplknet-t_8xb2-160k_ade20k-512x512', (512, 704), SIZES_512),
    ('upernet_unireplknet-s-in22k_8xb2-160k_ade20k-640x640', (640, 864),
     SIZES_640),
    ('upernet_unireplknet-xl-in22k_8xb2-160k_ade20k-640x640', (640, 864),
     SIZES_640),
])
def test_pipeline_sizes(name, single, multi, image_300x400):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))

    data = Compose(cfg.test_pipeline)(copy.deepcopy(image_300x400))
    assert tuple(data['inputs'].shape[1:]) == single
    assert data['data_samples'].ori_shape == (300, 400)
    # labels stay at the original size: the metric compares there
    assert tuple(data['data_samples'].gt_sem_seg.shape) == (300, 400)

    data = Compose(cfg.tta_pipeline)(copy.deepcopy(image_300x400))
    sizes = [tuple(x.shape[1:]) for x in data['inputs']]
    flips = [s.flip for s in data['data_samples']]
    assert sorted(zip(sizes, flips)) == sorted(
        [(s, f) for s in multi for f in (False, True)])
    for sample in data['data_samples']:
        assert tuple(sample.gt_sem_seg.shape) == (300, 400)


def test_mmseg_default_tta_would_differ(image_300x400):
    """mmseg 1.x's own ADE20K TTA scales the *original* image by r; the
    configs must not (guards against falling back to it)."""
    import mmseg
    base = Config.fromfile(
        osp.join(
            osp.dirname(mmseg.__file__), '.mim', 'configs', '_base_',
            'datasets', 'ade20k.py'))
    data = Compose(base.tta_pipeline)(copy.deepcopy(image_300x400))
    sizes = {tuple(x.shape[1:]) for x in data['inputs']}
    assert (150, 200) in sizes and not sizes & set(SIZES_512)


def _demo_model_and_cfg():
    from mmseg.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    model.backbone.switch_to_deploy()  # same sizes, faster on CPU
    return model, cfg


def _record_input_sizes(model):
    seen = []
    model.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(tuple(args[0].shape[2:])))
    return seen


def test_model_sees_exact_sizes(tmp_path):
    """Single- and multi-scale inference of the demo config on a 90x130
    image: the backbone sees these sizes, predictions come back at 90x130.

    Demo scale (256, 96): f = min(256r/130, 96r/90) = 96r/90, e.g.
    r = 1.25 -> 173 x 120 -> 192 x 128 (WxH).
    """
    from mmseg.registry import MODELS
    rng = np.random.default_rng(0)
    img_path, seg_path = str(tmp_path / 'a.jpg'), str(tmp_path / 'a.png')
    Image.fromarray(rng.integers(0, 255, (90, 130, 3), np.uint8)).save(
        img_path)
    Image.fromarray(rng.integers(0, 6, (90, 130), np.uint8)).save(seg_path)
    info = dict(
        img_path=img_path,
        seg_map_path=seg_path,
        reduce_zero_label=True,
        seg_fields=[])
    model, cfg = _demo_model_and_cfg()
    seen = _record_input_sizes(model)

    batch = pseudo_collate([Compose(cfg.test_pipeline)(copy.deepcopy(info))])
    with torch.no_grad():
        out = model.test_step(batch)
    assert seen == [(96, 160)]
    assert tuple(out[0].pred_sem_seg.shape) == (90, 130)

    seen.clear()
    tta_model = MODELS.build(dict(cfg.tta_model, module=model))
    data = Compose(cfg.tta_pipeline)(copy.deepcopy(info))
    with torch.no_grad():
        out = tta_model.test_step(pseudo_collate([data]))
    expected = [(64, 96), (96, 128), (96, 160), (128, 192), (160, 224),
                (192, 256)]
    assert sorted(seen) == sorted(expected * 2)
    assert len(out) == 1
    pred = out[0].pred_sem_seg.data.squeeze()
    assert tuple(pred.shape) == (90, 130)

    # The merge is the mean of the softmax of the 12 predictions, each
    # resized back to 90x130 and un-flipped.
    probs = []
    with torch.no_grad():
        for inputs, sample in zip(data['inputs'], data['data_samples']):
            single = model.test_step(
                pseudo_collate([dict(inputs=inputs, data_samples=sample)]))
            logits = single[0].seg_logits.data
            assert tuple(logits.shape[1:]) == (90, 130)
            probs.append(logits.softmax(dim=0))
    mean = torch.stack(probs).mean(0)
    assert torch.equal(pred, mean.argmax(0))
