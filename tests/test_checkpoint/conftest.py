# Copyright (c) mmunireplk contributors. All rights reserved.
import os.path as osp

import pytest
import torch

from tests.helpers import REPO, load_tool

SEG_DEMO_CONFIG = osp.join(REPO, 'configs', '_demo_',
                           'upernet_unireplknet-a_seg-demo.py')


class Payload:
    """Unpickling it calls ``open(marker, 'w')``: a stand-in for a tampered
    checkpoint's code (e.g. ``os.system``)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, 'w')


@pytest.fixture
def payload(tmp_path):
    """``(checkpoint path, marker path)``: a checkpoint with real-looking
    weights whose ``meta`` creates the marker file when unpickled."""
    marker = str(tmp_path / 'PAYLOAD_RAN')
    path = str(tmp_path / 'tampered.pth')
    torch.save(
        dict(
            state_dict={'backbone.stages.0.0.gamma': torch.ones(40)},
            meta=dict(epoch=1, iter=1, note=Payload(marker))), path)
    assert not osp.exists(marker)
    return path, marker


@pytest.fixture(scope='session')
def seg_data_root(tmp_path_factory) -> str:
    """A tiny generated ADE20K-layout dataset."""
    generate_ade20k_demo = load_tool(
        'tools/demo_seg_data.py').generate_ade20k_demo
    root = str(tmp_path_factory.mktemp('seg_data'))
    generate_ade20k_demo(root, num_train=2, num_val=1, seed=0)
    return root


@pytest.fixture(scope='session')
def det_data_root(tmp_path_factory) -> str:
    """A tiny generated COCO-format shapes dataset."""
    generate_demo_coco = load_tool('tools/demo_det_data.py').generate_demo_coco
    root = str(tmp_path_factory.mktemp('det_data'))
    generate_demo_coco(root, num_train=4, num_val=2, img_size=(64, 64))
    return root
