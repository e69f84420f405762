# Copyright (c) mmunireplk contributors. All rights reserved.
import os.path as osp

import pytest

from tests.helpers import REPO, load_tool

CONFIG_DIR = osp.join(REPO, 'configs', 'unireplknet')
DEMO_CONFIG = osp.join(REPO, 'configs', '_demo_',
                       'upernet_unireplknet-a_seg-demo.py')


@pytest.fixture(scope='session', autouse=True)
def _register_seg_modules():
    """Register mmseg's and mmunireplk.seg's modules once."""
    from mmseg.utils import register_all_modules

    import mmunireplk.seg  # noqa: F401
    register_all_modules(init_default_scope=True)


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: multi-threaded OpenMP collapses when other jobs
    share the 2 CPU cores. Restored after each test."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory) -> str:
    """A small generated ADE20K-layout dataset shared by the tests."""
    generate_ade20k_demo = load_tool(
        'tools/demo_seg_data.py').generate_ade20k_demo
    root = str(tmp_path_factory.mktemp('ade20k_demo'))
    generate_ade20k_demo(root, num_train=8, num_val=4, seed=1)
    return root
