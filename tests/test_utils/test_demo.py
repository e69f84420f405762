# Copyright (c) mmunireplk contributors. All rights reserved.
"""The demo convention (tools/demo_utils.py): data regenerated when it must
be, one layout."""
import json
import os
import os.path as osp

import pytest

from tests.helpers import load_tool

demo_utils = load_tool('tools/demo_utils.py')
DATA_MANIFEST = demo_utils.DATA_MANIFEST
ensure_demo_data = demo_utils.ensure_demo_data


def fake_generate(root, num_train, seed, fail=False):
    os.makedirs(root, exist_ok=True)
    for i in range(num_train):
        with open(osp.join(root, f'{seed}_{i}.txt'), 'w') as f:
            f.write('x')
        if fail and i == 1:
            raise KeyboardInterrupt('interrupted while writing')


def files(root):
    return sorted(f for f in os.listdir(root) if f != DATA_MANIFEST)


def test_generated_once_then_reused(tmp_path):
    root = str(tmp_path / 'data')
    assert ensure_demo_data(root, fake_generate, num_train=3, seed=0)
    assert files(root) == ['0_0.txt', '0_1.txt', '0_2.txt']
    with open(osp.join(root, DATA_MANIFEST)) as f:
        assert json.load(f) == dict(num_train=3, seed=0)
    assert not ensure_demo_data(root, fake_generate, num_train=3, seed=0)


def test_other_size_or_seed_regenerates(tmp_path):
    root = str(tmp_path / 'data')
    ensure_demo_data(root, fake_generate, num_train=3, seed=0)
    assert ensure_demo_data(root, fake_generate, num_train=2, seed=0)
    assert files(root) == ['0_0.txt', '0_1.txt']  # nothing stale left
    assert ensure_demo_data(root, fake_generate, num_train=2, seed=1)
    assert files(root) == ['1_0.txt', '1_1.txt']


def test_interrupted_write_is_not_reused(tmp_path):
    root = str(tmp_path / 'data')
    with pytest.raises(KeyboardInterrupt):
        ensure_demo_data(root, fake_generate, num_train=3, seed=0, fail=True)
    assert not osp.exists(osp.join(root, DATA_MANIFEST))
    assert ensure_demo_data(root, fake_generate, num_train=3, seed=0)
    assert files(root) == ['0_0.txt', '0_1.txt', '0_2.txt']
