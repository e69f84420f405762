# Copyright (c) mmunireplk contributors. All rights reserved.
"""Bad inputs give clear errors; odd but valid ones are handled."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from PIL import Image

from tests.helpers import load_tool
from .conftest import DEMO_CONFIG


def _dataset(root, split='training', pipeline='train'):
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(DEMO_CONFIG)
    loader = cfg.train_dataloader if split == 'training' else \
        cfg.val_dataloader
    dataset_cfg = dict(loader.dataset, data_root=root)
    dataset_cfg['pipeline'] = cfg[f'{pipeline}_pipeline']
    return DATASETS.build(dataset_cfg)


@pytest.fixture
def data_root(tmp_path):
    root = str(tmp_path / 'demo')
    generate_ade20k_demo = load_tool(
        'tools/demo_seg_data.py').generate_ade20k_demo
    generate_ade20k_demo(root, num_train=2, num_val=1, seed=3)
    return root


def _label_path(root, index=0, split='training'):
    return osp.join(root, 'annotations', split, f'demo_{index:05d}.png')


def _image_size(root, index=0, split='training'):
    with Image.open(osp.join(root, 'images', split,
                             f'demo_{index:05d}.jpg')) as img:
        return img.size  # (w, h)


def test_valid_sample_loads(data_root):
    sample = _dataset(data_root)[0]
    labels = set(np.unique(sample['data_samples'].gt_sem_seg.data.numpy()))
    assert labels and labels <= set(range(5)) | {255}


def test_missing_label_map(data_root):
    os.remove(_label_path(data_root, 1))
    dataset = _dataset(data_root)
    with pytest.raises(FileNotFoundError, match=r'demo_00001\.png.*'
                       r'does not exist'):
        dataset[1]


@pytest.mark.parametrize('bad_value', [6, 200, 254])
def test_label_outside_class_range(data_root, bad_value):
    # 5 classes: raw values 0 (ignored), 1..5 and 255 are valid
    w, h = _image_size(data_root)
    label = np.ones((h, w), np.uint8)
    label[:3, :3] = bad_value
    Image.fromarray(label).save(_label_path(data_root))
    with pytest.raises(ValueError, match=rf'values \[{bad_value}\] outside '
                       r'the 5 classes'):
        _dataset(data_root)[0]
    # the test pipeline checks too (labels are loaded after the resize)
    with pytest.raises(ValueError, match=rf'values \[{bad_value}\]'):
        _dataset(data_root, pipeline='test')[0]


def test_ignore_and_zero_labels_are_valid(data_root):
    w, h = _image_size(data_root)
    label = np.full((h, w), 5, np.uint8)
    label[:, :w // 3] = 0  # "other" -> ignored by reduce_zero_label
    label[:, -(w // 3):] = 255  # explicit ignore
    Image.fromarray(label).save(_label_path(data_root))
    seg = _dataset(data_root, pipeline='test')[0]['data_samples'].gt_sem_seg
    assert set(np.unique(seg.data.numpy())) == {4, 255}


def test_mismatched_image_and_label_size(data_root):
    w, h = _image_size(data_root)
    Image.fromarray(np.ones((h + 3, w), np.uint8)).save(
        _label_path(data_root))
    with pytest.raises(ValueError, match=rf'is {h}x{w} \(HxW\) but its label '
                       rf'map .* is {h + 3}x{w}'):
        _dataset(data_root)[0]


def test_colour_label_map(data_root):
    w, h = _image_size(data_root)
    Image.fromarray(np.ones((h, w, 3), np.uint8)).save(_label_path(data_root))
    with pytest.raises(ValueError, match='single-channel'):
        _dataset(data_root)[0]


def test_dataset_without_labels_folder(data_root):
    shutil.rmtree(osp.join(data_root, 'annotations', 'validation'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _dataset(data_root, split='validation', pipeline='test')[0]


@pytest.fixture(scope='module')
def demo_model():
    from mmseg.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('size', [(8, 8), (5, 300), (300, 6)])
def test_tiny_images(data_root, demo_model, size):
    """Tiny and extremely thin images train (finite loss) and test
    (prediction at the original size)."""
    h, w = size
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)).save(
            osp.join(data_root, 'images', 'training', f'demo_{i:05d}.jpg'))
        Image.fromarray(rng.integers(1, 6, (h, w), np.uint8)).save(
            _label_path(data_root, i))

    dataset = _dataset(data_root)
    train_batch = [dataset[0], dataset[1]]
    for sample in train_batch:
        assert all(s <= 96 for s in sample['inputs'].shape[1:])
    demo_model.train()
    losses = demo_model.train_step(
        pseudo_collate(train_batch), optim_wrapper=_sgd_wrapper(demo_model))
    assert all(torch.isfinite(v) for v in losses.values())

    test_sample = _dataset(data_root, pipeline='test')[0]
    demo_model.eval()
    with torch.no_grad():
        out = demo_model.test_step(pseudo_collate([test_sample]))
    assert tuple(out[0].pred_sem_seg.shape) == (h, w)
    assert torch.isfinite(out[0].seg_logits.data).all()


def _sgd_wrapper(model):
    from mmengine.optim import OptimWrapper
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3))
