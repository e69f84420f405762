# Copyright (c) mmunireplk contributors. All rights reserved.
import os.path as osp

import pytest

from tests.helpers import REPO, load_tool

CONFIG_DIR = osp.join(REPO, 'configs', 'unireplknet')
DEMO_CONFIG = osp.join(
    REPO, 'configs', '_demo_',
    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_det-demo.py')


@pytest.fixture
def mmdet_scope():
    """Register mmdet's and mmunireplk's modules and make 'mmdet' the
    default scope."""
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    import mmunireplk  # noqa: F401
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> str:
    """A small generated shapes dataset shared by the tests."""
    generate_demo_coco = load_tool('tools/demo_det_data.py').generate_demo_coco
    root = str(tmp_path_factory.mktemp('det_demo'))
    generate_demo_coco(root, num_train=8, num_val=4, img_size=(64, 64))
    return root
