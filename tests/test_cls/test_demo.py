# Copyright (c) mmunireplk contributors. All rights reserved.
"""The classification demo data and the end-to-end CPU demo with our
tools/train.py and tools/test.py (also on a public-layout file)."""
import json
import os
import os.path as osp
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.helpers import load_tool, run_tool
from .conftest import DEMO_CONFIG

demo_cls = load_tool('tools/demo_cls.py')
demo_data = load_tool('tools/demo_cls_data.py')
COMPLETE_MARKER = demo_data.COMPLETE_MARKER
DEMO_CLASSES = demo_data.DEMO_CLASSES
demo_data_complete = demo_data.demo_data_complete
generate_demo_imagenet = demo_data.generate_demo_imagenet


def test_demo_data_layout(tmp_path, mmpretrain_scope):
    from mmpretrain.datasets import CustomDataset
    root = str(tmp_path / 'data')
    counts = generate_demo_imagenet(root, num_train=10, num_val=5,
                                    img_size=32, seed=1)
    assert counts == dict(train=10, val=5)
    info = demo_data_complete(root)
    assert info['classes'] == list(DEMO_CLASSES) and info['img_size'] == 32
    dataset = CustomDataset(data_root=root, data_prefix='train',
                            with_label=True, pipeline=[])
    assert dataset.CLASSES == DEMO_CLASSES  # sorted folder names
    assert len(dataset) == 10
    assert sorted(dataset.get_gt_labels().tolist()) == [0, 0, 1, 1, 2, 2, 3,
                                                        3, 4, 4]
    # deterministic for a seed
    again = str(tmp_path / 'again')
    generate_demo_imagenet(again, num_train=10, num_val=5, img_size=32,
                           seed=1)
    from PIL import Image
    name = osp.join('train', 'red_disc', 'demo_00000.png')
    np.testing.assert_array_equal(
        np.asarray(Image.open(osp.join(root, name))),
        np.asarray(Image.open(osp.join(again, name))))
    # an interrupted write (no marker) is detected
    os.remove(osp.join(root, COMPLETE_MARKER))
    assert demo_data_complete(root) is None
    with pytest.raises(ValueError, match='at least the number of classes'):
        generate_demo_imagenet(root, num_train=3, num_val=5)


def to_public_layout(mmpretrain_ckpt: str, out: str) -> None:
    """The inverse of the converter: what a public file looks like."""
    state = torch.load(mmpretrain_ckpt, weights_only=False)['state_dict']
    public = {}
    for key, value in state.items():
        if key.startswith('backbone.'):
            public[key[len('backbone.'):]] = value
        elif key.startswith('head.'):
            public[key[len('head.'):]] = value
    torch.save(dict(model=public), out)


@pytest.mark.slow
def test_demo_trains_above_chance(tmp_path):
    root = str(tmp_path / 'data')
    generate_demo_imagenet(root, seed=0)
    data = [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]
    work = str(tmp_path / 'work')
    start = time.time()
    run_tool(['tools/train.py', DEMO_CONFIG, '--work-dir', work,
              '--cfg-options', *data], timeout=900, check=True)
    train_time = time.time() - start
    with open(osp.join(work, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    metrics = {}
    public = str(tmp_path / 'public_layout.pth')
    to_public_layout(checkpoint, public)
    for name, ckpt in (('trained', checkpoint), ('public', public)):
        json_out = str(tmp_path / f'{name}.json')
        run_tool(['tools/test.py', DEMO_CONFIG, ckpt, '--work-dir',
                  str(tmp_path / name), '--json-out', json_out,
                  '--cfg-options', *data], check=True)
        with open(json_out) as f:
            metrics[name] = json.load(f)['metrics']
    top1 = metrics['trained']['accuracy/top1']
    print(f'demo: top-1 {top1:.1f} (chance 20), top-5 '
          f'{metrics["trained"]["accuracy/top5"]:.1f}, training '
          f'{train_time:.0f} s')
    assert top1 > 60, metrics
    # the public layout is mapped in memory and gives the same result
    assert metrics['public'] == metrics['trained']
    cfg = Config.fromfile(DEMO_CONFIG)
    assert cfg.train_cfg.max_epochs == 10


@pytest.mark.slow
def test_demo_cls_tool_convention(tmp_path):
    """tools/demo_cls.py follows the demo convention: data with its
    manifest, one metrics.json with the evaluation's top-1/top-5."""
    work_dir, data_root = str(tmp_path / 'work'), str(tmp_path / 'data')
    result = demo_cls.main([
        '--work-dir', work_dir, '--data-root', data_root, '--epochs', '1',
        '--num-train', '10', '--num-val', '5', '--threads', '0',
        '--cfg-options',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    with open(osp.join(work_dir, 'metrics.json')) as f:
        assert json.load(f) == result
    assert result['task'] == 'cls' and result['data']['num_train'] == 10
    top1 = result['metrics']['single_scale']['accuracy/top1']
    assert 0 <= top1 <= 100
    assert demo_data_complete(data_root)['train'] == 10
    assert osp.isfile(osp.join(data_root, 'demo_data.json'))
    from PIL import Image
    picture = Image.open(result['picture'])  # the predictions picture
    assert result['picture'] == osp.join(work_dir, 'predictions.png')
    assert picture.width > 100 and picture.height > 100
