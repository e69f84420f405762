# Copyright (c) mmunireplk contributors. All rights reserved.
"""A tiny, deterministic dataset in the ADE20K layout for demos and tests.

Layout (as ``mmseg``'s ``ADE20KDataset`` expects it)::

    ROOT/images/training/demo_00000.jpg       RGB image
    ROOT/annotations/training/demo_00000.png  uint8 labels
    ROOT/images/validation/...  ROOT/annotations/validation/...

Labels follow ADE20K: 0 is "other / unlabelled" and is ignored
(``reduce_zero_label=True`` maps it to 255), 1..K are the K classes (they
become 0..K-1 for the model). Each image has a textured background (label 0)
and several shapes; every class has its own colour and texture, so a small
network learns it in minutes.
"""
import os
import os.path as osp
from typing import Dict, Sequence, Tuple

import numpy as np
from PIL import Image

DEMO_CLASSES = ('red_disc', 'green_box', 'blue_stripes', 'yellow_ring',
                'purple_checker')
# RGB colour of each class (index 0 is the unlabelled background).
_COLOURS = np.array([(120, 120, 120), (220, 40, 40), (40, 190, 60),
                     (50, 70, 220), (230, 210, 40), (160, 60, 200)],
                    dtype=np.float32)
DEMO_PALETTE = [tuple(int(v) for v in c) for c in _COLOURS[1:]]


def _class_mask(label: int, h: int, w: int,
                rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of one random shape of the given class."""
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    size = rng.uniform(0.15, 0.35) * min(h, w)
    dist = np.sqrt((yy - cy)**2 + (xx - cx)**2)
    if label == 1:  # disc
        return dist < size
    if label == 2:  # box
        return (np.abs(yy - cy) < size) & (np.abs(xx - cx) < size * 1.3)
    if label == 3:  # wide band
        return np.abs(yy - cy) < size * 0.6
    if label == 4:  # ring
        return (dist < size * 1.2) & (dist > size * 0.6)
    # tall band
    return np.abs(xx - cx) < size * 0.6


def _texture(label: int, h: int, w: int) -> np.ndarray:
    """A per-class intensity pattern in [-1, 1]."""
    yy, xx = np.mgrid[0:h, 0:w]
    if label == 3:
        return np.sign(np.sin(yy / 2.0))
    if label == 5:
        return np.where(((yy // 4) + (xx // 4)) % 2 == 0, 1., -1.)
    return np.zeros((h, w))


def make_sample(rng: np.random.Generator,
                size: Tuple[int, int],
                num_classes: int = len(DEMO_CLASSES),
                max_objects: int = 4) -> Tuple[np.ndarray, np.ndarray]:
    """One (RGB uint8 image, uint8 raw label map) pair of size (h, w)."""
    h, w = size
    label = np.zeros((h, w), np.uint8)
    for cls in rng.choice(
            np.arange(1, num_classes + 1),
            size=int(rng.integers(2, max_objects + 1)),
            replace=True):
        label[_class_mask(int(cls), h, w, rng)] = cls
    img = _COLOURS[label].copy()
    for cls in np.unique(label):
        mask = label == cls
        img[mask] += 40 * _texture(int(cls), h, w)[mask, None]
    img += rng.normal(0, 20, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), label


def generate_ade20k_demo(root: str,
                         num_train: int = 48,
                         num_val: int = 12,
                         size_range: Sequence[int] = (72, 120),
                         seed: int = 0) -> Dict[str, int]:
    """Write the demo dataset under ``root`` (deterministic for a seed).

    Args:
        root (str): Output folder (created; existing files are overwritten).
        num_train (int): Training images. Defaults to 48.
        num_val (int): Validation images. Defaults to 12.
        size_range (Sequence[int]): Range of image heights and widths.
            Defaults to (72, 120).
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: Number of images written per split.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be at least 1')
    low, high = int(size_range[0]), int(size_range[1])
    if not 8 <= low <= high:
        raise ValueError(f'size_range must satisfy 8 <= low <= high, got '
                         f'{tuple(size_range)}')
    rng = np.random.default_rng(seed)
    counts = {}
    for split, count in (('training', num_train), ('validation', num_val)):
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(count):
            size = tuple(int(v) for v in rng.integers(low, high + 1, size=2))
            img, label = make_sample(rng, size)
            name = f'demo_{i:05d}'
            Image.fromarray(img).save(
                osp.join(img_dir, name + '.jpg'), quality=95)
            Image.fromarray(label).save(osp.join(ann_dir, name + '.png'))
        counts[split] = count
    return counts
