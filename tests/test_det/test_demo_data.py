# Copyright (c) mmunireplk contributors. All rights reserved.
import filecmp
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import load_tool

demo_data = load_tool('tools/demo_det_data.py')
DEMO_CLASSES = demo_data.DEMO_CLASSES
demo_data_ready = demo_data.demo_data_ready
generate_demo_coco = demo_data.generate_demo_coco
render_demo_image = demo_data.render_demo_image


def test_generator_is_deterministic(tmp_path):
    a = generate_demo_coco(str(tmp_path / 'a'), num_train=5, num_val=3,
                           img_size=(48, 64), seed=3)
    b = generate_demo_coco(str(tmp_path / 'b'), num_train=5, num_val=3,
                           img_size=(48, 64), seed=3)
    for split in ('train', 'val'):
        assert filecmp.cmp(a[split], b[split], shallow=False)
        for i in range(3):
            name = f'{split}/{i:06d}.png'
            assert filecmp.cmp(str(tmp_path / 'a' / name),
                               str(tmp_path / 'b' / name), shallow=False)
    c = generate_demo_coco(str(tmp_path / 'c'), num_train=5, num_val=3,
                           img_size=(48, 64), seed=4)
    assert not filecmp.cmp(a['train'], c['train'], shallow=False)
    assert demo_data_ready(str(tmp_path / 'a'))
    assert not demo_data_ready(str(tmp_path / 'missing'))


def test_annotations_are_consistent(tmp_path):
    files = generate_demo_coco(str(tmp_path), num_train=12, num_val=2,
                               img_size=(96, 80), num_empty=2)
    coco = json.load(open(files['train']))
    assert [c['name'] for c in coco['categories']] == list(DEMO_CLASSES)
    assert len(coco['images']) == 12
    per_image = {img['id']: 0 for img in coco['images']}
    labels = set()
    for ann in coco['annotations']:
        per_image[ann['image_id']] += 1
        labels.add(ann['category_id'])
        x, y, w, h = ann['bbox']
        poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
        # the box is the polygon's extent, inside the 80x96 image
        assert np.allclose(poly.min(0), [x, y], atol=0.02)
        assert np.allclose(poly.max(0), [x + w, y + h], atol=0.02)
        assert 0 <= x and x + w <= 80 and 0 <= y and y + h <= 96
        assert 0 < ann['area'] <= w * h + 1e-6
        assert ann['iscrowd'] == 0
    # the last num_empty images have no objects, the others 1..4
    counts = [per_image[i] for i in range(12)]
    assert counts[-2:] == [0, 0]
    assert all(1 <= c <= 4 for c in counts[:-2])
    assert labels <= {1, 2, 3} and len(labels) >= 2
    img = Image.open(osp.join(tmp_path, 'train', '000000.png'))
    assert img.size == (80, 96) and img.mode == 'RGB'


def test_polygon_matches_drawn_pixels():
    rng = np.random.RandomState(0)
    image, objects = render_demo_image(rng, (64, 64), min_objects=1,
                                       max_objects=1)
    assert len(objects) == 1
    mask = Image.new('L', (64, 64))
    ImageDraw.Draw(mask).polygon(objects[0]['polygon'], fill=1)
    mask = np.asarray(mask).astype(bool)
    inside = image[mask].astype(float).mean(0)
    outside = image[~mask].astype(float).mean(0)
    # the shape's colour differs clearly from the background
    assert np.abs(inside - outside).mean() > 40


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match='Unknown split'):
        generate_demo_coco(str(tmp_path), splits=['test'])
