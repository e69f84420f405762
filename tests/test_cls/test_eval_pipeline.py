# Copyright (c) mmunireplk contributors. All rights reserved.
"""The test pipelines resize and crop as the reference evaluates, on a
generated image: < 384 shorter side int(size / 0.875) bicubic + centre crop,
>= 384 size x size bicubic, no crop."""
import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from .conftest import config_path


def run_pipeline(cfg: Config, img: np.ndarray):
    """Every step's output image of the config's test pipeline."""
    from mmpretrain.registry import TRANSFORMS
    results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
    outputs = []
    for step in cfg.test_dataloader.dataset.pipeline[1:]:  # after loading
        results = TRANSFORMS.build(step)(results)
        outputs.append((step.type, dict(results)))
    return outputs


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(
        0, 256, size=(300, 400, 3), dtype=np.uint8)


def test_224_short_side_256_then_centre_crop(image, mmpretrain_scope):
    cfg = Config.fromfile(config_path('unireplknet-t_32xb128_in1k.py'))
    (_, resized), (_, cropped), (_, packed) = run_pipeline(cfg, image)
    # shorter side 300 -> 256, longer int(400 * 256 / 300) = 341
    assert resized['img'].shape == (256, 341, 3)
    assert packed['inputs'].shape == (3, 224, 224)
    # the same pixels as PIL bicubic + a centred 224 crop (offsets 16, 58)
    expected = np.asarray(
        Image.fromarray(image).resize((341, 256), Image.BICUBIC))
    top, left = round((256 - 224) / 2), round((341 - 224) / 2)
    np.testing.assert_array_equal(
        packed['inputs'].permute(1, 2, 0).numpy(),
        expected[top:top + 224, left:left + 224])


def test_384_resize_without_crop(image, mmpretrain_scope):
    cfg = Config.fromfile(
        config_path('unireplknet-b_in21k-pre_8xb64_in1k-384px.py'))
    steps = run_pipeline(cfg, image)
    assert [name for name, _ in steps] == ['Resize', 'PackInputs']
    packed = steps[-1][1]
    assert packed['inputs'].shape == (3, 384, 384)  # aspect not kept
    expected = np.asarray(
        Image.fromarray(image).resize((384, 384), Image.BICUBIC))
    np.testing.assert_array_equal(packed['inputs'].permute(1, 2, 0).numpy(),
                                  expected)


def test_demo_rule_at_64(mmpretrain_scope):
    from .conftest import DEMO_CONFIG
    cfg = Config.fromfile(DEMO_CONFIG)
    img = np.zeros((64, 80, 3), np.uint8)
    (_, resized), (_, cropped), _ = run_pipeline(cfg, img)
    assert resized['img'].shape[:2] == (73, 91)  # int(64 / 0.875) = 73
    assert cropped['img'].shape[:2] == (64, 64)
