# Copyright (c) mmunireplk contributors. All rights reserved.
"""A deterministic, COCO-format toy detection dataset for CPU demos/tests.

Each image shows a few non-overlapping filled shapes of three classes
(rectangle, ellipse, triangle; random size, rotation and colour) on a
noisy colour-gradient background. Every object comes with its box and a
polygon mask; the same seed always writes the same files.

    root/
      annotations/instances_train.json, instances_val.json
      train/000000.png ...
      val/000000.png ...
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

DEMO_CLASSES = ('rectangle', 'ellipse', 'triangle')
Polygon = List[Tuple[float, float]]


def _shape_polygon(rng: np.random.RandomState, label: int, cx: float,
                   cy: float, size: float) -> Polygon:
    """Vertices of one shape centred at ``(cx, cy)`` with extent ~size."""
    angle = rng.uniform(0, 2 * math.pi)
    if label == 0:  # rectangle, aspect 1:1 .. 1:2
        half_w = size / 2
        half_h = half_w * rng.uniform(0.5, 1.0)
        corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h),
                   (-half_w, half_h)]
    elif label == 1:  # ellipse as a 32-gon
        a = size / 2
        b = a * rng.uniform(0.6, 1.0)
        corners = [(a * math.cos(t), b * math.sin(t))
                   for t in np.linspace(0, 2 * math.pi, 32, endpoint=False)]
    else:  # roughly equilateral triangle
        r = size / 2
        corners = [(r * math.cos(t), r * math.sin(t))
                   for t in (0, 2 * math.pi / 3, 4 * math.pi / 3)]
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    return [(cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a)
            for x, y in corners]


def _polygon_area(polygon: Polygon) -> float:
    """Shoelace formula."""
    area = 0.
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        area += x1 * y2 - x2 * y1
    return abs(area) / 2


def _background(rng: np.random.RandomState, height: int,
                width: int) -> np.ndarray:
    """A noisy linear colour gradient, uint8 HxWx3."""
    start, end = rng.uniform(40, 215, size=(2, 3))
    ramp = np.linspace(0, 1, width)[None, :, None]
    img = start + (end - start) * ramp
    img = np.broadcast_to(img, (height, width, 3)).copy()
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _contrasting_colour(rng: np.random.RandomState,
                        background: np.ndarray) -> Tuple[int, int, int]:
    """A random colour at least 80 (L1/3) away from the mean background."""
    mean = background.reshape(-1, 3).mean(0)
    for _ in range(100):
        colour = rng.randint(0, 256, size=3)
        if np.abs(colour - mean).mean() >= 80:
            break
    return tuple(int(c) for c in colour)


def render_demo_image(
        rng: np.random.RandomState,
        size: Tuple[int, int],
        max_objects: int = 4,
        min_objects: int = 1,
        object_scale: Tuple[float, float] = (0.2, 0.45)
) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image and return it with its objects.

    Args:
        rng (np.random.RandomState): Source of randomness.
        size (tuple[int, int]): ``(height, width)``.
        max_objects (int): Most shapes per image.
        min_objects (int): Fewest shapes per image (0 allows empty images).
        object_scale (tuple[float, float]): Shape extent as a fraction of
            the shorter image side.

    Returns:
        tuple: The uint8 RGB image and a list of ``dict(label, polygon)``.
    """
    height, width = size
    image = _background(rng, height, width)
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    objects: List[dict] = []
    boxes: List[Tuple[float, float, float, float]] = []
    target = rng.randint(min_objects, max_objects + 1)
    for _ in range(target * 20):
        if len(objects) == target:
            break
        label = int(rng.randint(len(DEMO_CLASSES)))
        extent = rng.uniform(*object_scale) * min(height, width)
        cx = rng.uniform(extent / 2, width - extent / 2)
        cy = rng.uniform(extent / 2, height - extent / 2)
        polygon = _shape_polygon(rng, label, cx, cy, extent)
        xs, ys = zip(*polygon)
        box = (min(xs), min(ys), max(xs), max(ys))
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            continue
        # keep shapes apart (2 px gap) so every polygon is fully visible
        if any(box[0] < b[2] + 2 and b[0] < box[2] + 2 and box[1] < b[3] + 2
               and b[1] < box[3] + 2 for b in boxes):
            continue
        draw.polygon(polygon, fill=_contrasting_colour(rng, image))
        objects.append(dict(label=label, polygon=polygon, box=box))
        boxes.append(box)
    return np.asarray(canvas), objects


def _coco_split(root: str, split: str, num_images: int, seed: int,
                img_size: Tuple[int, int], num_empty: int) -> str:
    """Write one split's images and annotation file; return its path."""
    rng = np.random.RandomState(seed)
    img_dir = osp.join(root, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for image_id in range(num_images):
        empty = image_id >= num_images - num_empty
        image, objects = render_demo_image(
            rng, img_size, min_objects=0 if empty else 1,
            max_objects=0 if empty else 4)
        file_name = f'{image_id:06d}.png'
        Image.fromarray(image).save(osp.join(img_dir, file_name))
        images.append(
            dict(
                id=image_id,
                file_name=file_name,
                height=img_size[0],
                width=img_size[1]))
        for obj in objects:
            x1, y1, x2, y2 = obj['box']
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=obj['label'] + 1,
                    bbox=[round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)],
                    area=round(_polygon_area(obj['polygon']), 2),
                    segmentation=[[
                        round(v, 2) for point in obj['polygon']
                        for v in point
                    ]],
                    iscrowd=0))
    ann_file = osp.join(root, 'annotations', f'instances_{split}.json')
    os.makedirs(osp.dirname(ann_file), exist_ok=True)
    coco = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(DEMO_CLASSES)
        ])
    tmp_file = ann_file + '.tmp'
    with open(tmp_file, 'w') as f:
        json.dump(coco, f)
    os.replace(tmp_file, ann_file)  # the json appears last: marks "done"
    return ann_file


def generate_demo_coco(root: str,
                       num_train: int = 240,
                       num_val: int = 60,
                       img_size: Sequence[int] = (128, 128),
                       seed: int = 0,
                       num_empty: int = 0,
                       splits: Optional[Sequence[str]] = None
                       ) -> Dict[str, str]:
    """Write the demo dataset under ``root`` (idempotent per arguments).

    Args:
        root (str): Output directory.
        num_train (int): Training images. Defaults to 240.
        num_val (int): Validation images. Defaults to 60.
        img_size (Sequence[int]): ``(height, width)``. Defaults to 128x128.
        seed (int): Base seed; the val split uses ``seed + 1``.
        num_empty (int): Images without objects at the end of each split.
        splits (Sequence[str], optional): Subset of ``('train', 'val')``.

    Returns:
        dict: Split name -> annotation file path.
    """
    sizes = {'train': num_train, 'val': num_val}
    img_size = (int(img_size[0]), int(img_size[1]))
    ann_files = {}
    for offset, split in enumerate(splits or ('train', 'val')):
        if split not in sizes:
            raise ValueError(f'Unknown split {split!r}; use train or val')
        ann_files[split] = _coco_split(root, split, sizes[split],
                                       seed + offset, img_size, num_empty)
    return ann_files


def demo_data_ready(root: str) -> bool:
    """Whether both annotation files of a demo dataset exist."""
    return all(
        osp.isfile(osp.join(root, 'annotations', f'instances_{s}.json'))
        for s in ('train', 'val'))
