# Copyright (c) mmunireplk contributors. All rights reserved.
"""A tiny, deterministic ImageNet-style folder dataset for the CPU demo.

Layout (mmpretrain's ``CustomDataset`` / ``ImageNet`` folder format, one
sub-folder per class, classes sorted by name)::

    ROOT/train/<class>/demo_00000.png
    ROOT/val/<class>/demo_00000.png
    ROOT/classes.txt          one class name per line
    ROOT/DEMO_COMPLETE        written last (JSON: counts, seed, size)

Each class is a shape with its own colour family and texture, drawn at a
random position and size on a noisy background, so a small network
separates the classes in a couple of minutes on a CPU.
:func:`demo_data_complete` tells a finished dataset from an interrupted one.
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, Optional

import numpy as np
from PIL import Image

DEMO_CLASSES = ('blue_stripes', 'green_square', 'purple_checker',
                'red_disc', 'yellow_ring')
COMPLETE_MARKER = 'DEMO_COMPLETE'
# Base RGB colour per class (same order as DEMO_CLASSES).
_COLOURS = np.array([(50, 80, 220), (40, 190, 60), (160, 60, 200),
                     (220, 40, 40), (230, 210, 40)], dtype=np.float32)


def _draw(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 image of class ``label``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(0.3, 0.7, size=2) * size
    radius = rng.uniform(0.2, 0.35) * size
    dist = np.sqrt((yy - cy)**2 + (xx - cx)**2)
    name = DEMO_CLASSES[label]
    if name == 'red_disc':
        mask = dist < radius
    elif name == 'green_square':
        mask = (np.abs(yy - cy) < radius) & (np.abs(xx - cx) < radius)
    elif name == 'yellow_ring':
        mask = (dist < radius * 1.2) & (dist > radius * 0.6)
    elif name == 'blue_stripes':
        mask = (np.abs(yy - cy) < radius) & (np.sin(xx / 2.0) > 0)
    else:  # purple_checker
        mask = ((np.abs(yy - cy) < radius) & (np.abs(xx - cx) < radius) &
                (((yy // 4) + (xx // 4)) % 2 == 0))
    background = rng.uniform(60, 160, size=3).astype(np.float32)
    img = np.broadcast_to(background, (size, size, 3)).copy()
    colour = _COLOURS[label] + rng.normal(0, 15, size=3)
    img[mask] = colour
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def demo_data_complete(root: str) -> Optional[dict]:
    """The marker's content if ``root`` holds a completely written demo
    dataset, else None."""
    marker = osp.join(root, COMPLETE_MARKER)
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        return json.load(f)


def generate_demo_imagenet(root: str,
                           num_train: int = 200,
                           num_val: int = 100,
                           img_size: int = 64,
                           seed: int = 0) -> Dict[str, int]:
    """Write the demo dataset under ``root`` (deterministic for a seed).

    Images are spread evenly over the classes. An existing folder is
    removed first, and the completion marker is written last, so an
    interrupted write is detected (:func:`demo_data_complete`).

    Args:
        root (str): Output folder.
        num_train (int): Training images. Defaults to 200.
        num_val (int): Validation images. Defaults to 100.
        img_size (int): Square image side. Defaults to 64.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: Number of images written per split (``train``, ``val``).
    """
    num_classes = len(DEMO_CLASSES)
    if num_train < num_classes or num_val < num_classes:
        raise ValueError(f'num_train and num_val must be at least the '
                         f'number of classes ({num_classes}), got '
                         f'{num_train} and {num_val}')
    if img_size < 16:
        raise ValueError(f'img_size must be at least 16, got {img_size}')
    if osp.isdir(root):
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    counts: Dict[str, int] = {}
    for split, count in (('train', num_train), ('val', num_val)):
        per_class = [0] * num_classes
        for i in range(count):
            label = i % num_classes
            folder = osp.join(root, split, DEMO_CLASSES[label])
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(_draw(label, img_size, rng)).save(
                osp.join(folder, f'demo_{per_class[label]:05d}.png'))
            per_class[label] += 1
        counts[split] = count
    with open(osp.join(root, 'classes.txt'), 'w') as f:
        f.write('\n'.join(DEMO_CLASSES) + '\n')
    info = dict(counts, classes=list(DEMO_CLASSES), img_size=img_size,
                seed=seed)
    tmp = osp.join(root, COMPLETE_MARKER + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(info, f)
    os.replace(tmp, osp.join(root, COMPLETE_MARKER))
    return counts
