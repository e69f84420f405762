# Copyright (c) mmunireplk contributors. All rights reserved.
"""Small checkpoints and images for the inference tests.

Checkpoints are randomly initialised models built from the configs and
saved as mmengine would (``state_dict`` + ``meta.dataset_meta``); their
deploy forms are made with the backbone's ``switch_to_deploy()``. Images
come from the demo data generators of ``tools/``.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import REPO, load_tool

SEG_DEMO_CONFIG = osp.join(REPO, 'configs', '_demo_',
                           'upernet_unireplknet-a_seg-demo.py')
DET_DEMO_CONFIG = osp.join(
    REPO, 'configs', '_demo_',
    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_det-demo.py')
SEG_T_CONFIG = osp.join(REPO, 'configs', 'unireplknet',
                        'upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py')


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_model(config, task, cfg_options=None):
    """A randomly initialised model of ``config`` (pretrained init off)."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope

    from mmunireplk.apis import load_config
    from mmunireplk.apis.inference import SCOPE_OF_TASK
    cfg = config if isinstance(config, Config) else load_config(
        config, cfg_options)
    scope = SCOPE_OF_TASK[task]
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
    model = revert_sync_batchnorm(model)
    # BN statistics that are not the identity make the deploy fusion
    # non-trivial
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    return model


def save_checkpoint(model, path, dataset_meta=None) -> str:
    meta = {'dataset_meta': dataset_meta} if dataset_meta else {}
    torch.save({'state_dict': model.state_dict(), 'meta': meta}, path)
    return str(path)


def save_deploy_checkpoint(model, path, dataset_meta=None) -> str:
    import copy
    deployed = copy.deepcopy(model)
    deployed.backbone.switch_to_deploy()
    return save_checkpoint(deployed, path, dataset_meta)


SEG_META = dict(
    classes=('red_disc', 'green_box', 'blue_stripes', 'yellow_ring',
             'purple_checker'),
    palette=[(220, 40, 40), (40, 190, 60), (50, 70, 220), (230, 210, 40),
             (160, 60, 200)])
DET_META = dict(
    classes=('rectangle', 'ellipse', 'triangle'),
    palette=[(220, 20, 60), (0, 128, 255), (0, 170, 0)])


@pytest.fixture(scope='session')
def seg_ckpts(tmp_path_factory):
    """(training-form, deploy-form) checkpoints of the seg demo config."""
    root = tmp_path_factory.mktemp('seg_ckpt')
    model = build_model(SEG_DEMO_CONFIG, 'seg')
    return (save_checkpoint(model, root / 'seg.pth', SEG_META),
            save_deploy_checkpoint(model, root / 'seg_deploy.pth', SEG_META))


@pytest.fixture(scope='session')
def det_ckpts(tmp_path_factory):
    """(training-form, deploy-form) checkpoints of the det demo config."""
    root = tmp_path_factory.mktemp('det_ckpt')
    model = build_model(DET_DEMO_CONFIG, 'det')
    return (save_checkpoint(model, root / 'det.pth', DET_META),
            save_deploy_checkpoint(model, root / 'det_deploy.pth', DET_META))


@pytest.fixture(scope='session')
def seg_images(tmp_path_factory):
    """Validation images of the generated ADE20K-layout demo data."""
    generate_ade20k_demo = load_tool(
        'tools/demo_seg_data.py').generate_ade20k_demo
    root = str(tmp_path_factory.mktemp('ade_demo'))
    generate_ade20k_demo(root, num_train=1, num_val=3, seed=2)
    return sorted(glob.glob(osp.join(root, 'images', 'validation', '*.jpg')))


@pytest.fixture(scope='session')
def det_images(tmp_path_factory):
    """Images of the generated shapes demo data."""
    render_demo_image = load_tool('tools/demo_det_data.py').render_demo_image
    root = tmp_path_factory.mktemp('shapes')
    rng = np.random.RandomState(0)
    paths = []
    for i in range(3):
        img, _ = render_demo_image(rng, (96, 128))
        path = str(root / f'shapes_{i}.jpg')
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths
