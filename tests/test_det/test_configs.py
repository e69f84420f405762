# Copyright (c) mmunireplk contributors. All rights reserved.
"""The six published COCO configs carry every value of the published
recipe; their deploy variants and the demo config fit them."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from .conftest import CONFIG_DIR, DEMO_CONFIG

import mmdet  # noqa: E402,F401  (installed by tools/install.sh)

SUFFIX = '_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
HF = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
# name: (arch, dims, drop path, lr decay, EMA, checkpoint, params in M)
RECIPES = {
    't': ('tiny', (80, 160, 320, 640), 0.3, 0.8, False,
          'unireplknet_t_in1k_224_acc83.21.pth', 89),
    's': ('small', (96, 192, 384, 768), 0.5, 0.8, False,
          'unireplknet_s_in1k_224_acc83.91.pth', 113),
    's-in22k': ('small', (96, 192, 384, 768), 0.5, 0.8, True,
                'unireplknet_s_in22k_pretrain.pth', 113),
    'b-in22k': ('base', (128, 256, 512, 1024), 0.6, 0.8, True,
                'unireplknet_b_in22k_pretrain.pth', 155),
    'l-in22k': ('large', (192, 384, 768, 1536), 0.7, 0.7, True,
                'unireplknet_l_in22k_pretrain.pth', 276),
    'xl-in22k': ('xlarge', (256, 512, 1024, 2048), 0.7, 0.7, True,
                 'unireplknet_xl_in22k_pretrain.pth', 443),
}
TARGET_STDS = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
               [0.033, 0.033, 0.067, 0.067]]


def config_path(name: str) -> str:
    return osp.join(CONFIG_DIR, f'cascade-mask-rcnn_unireplknet-{name}{SUFFIX}')


def build_detector(cfg: Config, device: str = 'meta'):
    from mmdet.registry import MODELS

    from mmunireplk.utils import sync_bn_to_bn
    model_cfg = cfg.model.copy()
    sync_bn_to_bn(model_cfg)  # SyncBN needs a process group to run
    model_cfg.backbone.init_cfg = None  # public weights are not here
    with torch.device(device):
        return MODELS.build(model_cfg)


@pytest.mark.parametrize('name', list(RECIPES))
def test_recipe_values(name, mmdet_scope):
    arch, dims, dpr, decay, ema, ckpt, params = RECIPES[name]
    cfg = Config.fromfile(config_path(name))
    assert cfg.default_scope == 'mmdet'
    # mmunireplk registers everything a detection config uses
    assert cfg.custom_imports.imports == ['mmunireplk']

    backbone = cfg.model.backbone
    assert backbone.type == 'mmunireplk.UniRepLKNet'
    assert (backbone.arch, backbone.drop_path_rate) == (arch, dpr)
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    assert backbone.with_cp is True and backbone.use_sync_bn is True
    assert backbone.deploy is False
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=HF + ckpt)
    assert tuple(cfg.model.neck.in_channels) == dims
    assert (cfg.model.neck.out_channels, cfg.model.neck.num_outs) == (256, 5)

    roi_head = cfg.model.roi_head
    assert roi_head.type == 'CascadeRoIHead' and roi_head.num_stages == 3
    assert roi_head.stage_loss_weights == [1, 0.5, 0.25]
    for head, stds in zip(roi_head.bbox_head, TARGET_STDS):
        assert head.type == 'ConvFCBBoxHead'
        assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
        assert (head.conv_out_channels, head.fc_out_channels) == (256, 1024)
        assert head.roi_feat_size == 7 and head.num_classes == 80
        assert head.norm_cfg.type == 'SyncBN'
        assert head.reg_class_agnostic is False
        assert head.reg_decoded_bbox is True
        assert head.loss_bbox == dict(type='GIoULoss', loss_weight=10.0)
        assert head.bbox_coder.target_stds == stds
    assert roi_head.mask_head.type == 'FCNMaskHead'
    assert roi_head.mask_head.num_convs == 4
    assert roi_head.mask_roi_extractor.roi_layer.output_size == 14
    assert cfg.model.data_preprocessor.pad_size_divisor == 32

    # flip + random choice of resize / resize-crop-resize, not LSJ
    pipeline = [t.type for t in cfg.train_pipeline]
    assert pipeline == [
        'LoadImageFromFile', 'LoadAnnotations', 'RandomFlip', 'RandomChoice',
        'PackDetInputs'
    ]
    assert cfg.train_pipeline[2].prob == 0.5
    resize, crop_branch = cfg.train_pipeline[3].transforms
    scales = [(1333, s) for s in range(480, 801, 32)]
    assert resize[0].scales == scales and resize[0].keep_ratio
    assert [t.type for t in crop_branch] == [
        'RandomChoiceResize', 'RandomCrop', 'RandomChoiceResize'
    ]
    assert crop_branch[0].scales == [(1333, 400), (1333, 500), (1333, 600)]
    assert crop_branch[1].crop_type == 'absolute_range'
    assert tuple(crop_branch[1].crop_size) == (384, 600)
    assert crop_branch[1].allow_negative_crop is True
    assert crop_branch[2].scales == scales
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    assert cfg.auto_scale_lr.base_batch_size == 16
    test_resize = [t for t in cfg.test_pipeline if t.type == 'Resize'][0]
    assert tuple(test_resize.scale) == (1333, 800) and test_resize.keep_ratio
    assert set(cfg.val_evaluator.metric) == {'bbox', 'segm'}

    optim = cfg.optim_wrapper
    assert optim.type == 'OptimWrapper' and 'clip_grad' not in optim
    assert optim.optimizer == dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert optim.constructor == 'mmunireplk.LayerDecayOptimWrapperConstructor'
    assert optim.paramwise_cfg == dict(
        num_layers=12, decay_rate=decay, decay_type='layer_wise')

    assert cfg.train_cfg.max_epochs == 36
    warmup, steps = cfg.param_scheduler
    assert warmup == dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500)
    assert steps.type == 'MultiStepLR' and steps.milestones == [27, 33]
    assert steps.gamma == 0.1 and steps.by_epoch

    hooks = cfg.get('custom_hooks', [])
    ema_hooks = [h for h in hooks if h.type == 'EMAHook']
    if ema:
        assert ema_hooks == [
            dict(
                type='EMAHook',
                ema_type='ExpMomentumEMA',
                momentum=1e-4,
                gamma=2000,
                update_buffers=True,
                priority=49)
        ]
    else:
        assert not ema_hooks

    # the model builds; its size matches the paper's table (within 1.5%)
    model = build_detector(cfg)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(count - params) / params < 0.015, count


def deploy_path(name: str) -> str:
    return osp.join(CONFIG_DIR, 'deploy',
                    f'cascade-mask-rcnn_unireplknet-{name}-deploy{SUFFIX}')


@pytest.mark.timeout(60)
@pytest.mark.parametrize('name', list(RECIPES))
def test_deploy_config_is_the_recipe_in_deploy_form(name):
    """Each published config has a deploy config; it resolves to the
    training config with ``model.backbone.deploy=True`` and nothing else."""
    cfg = Config.fromfile(deploy_path(name))
    expected = Config.fromfile(config_path(name))
    assert expected.model.backbone.deploy is False
    expected.model.backbone.deploy = True
    assert cfg.to_dict() == expected.to_dict()


@pytest.mark.timeout(30)
def test_deploy_configs_are_the_published_ones():
    found = glob.glob(osp.join(CONFIG_DIR, 'deploy', 'cascade-mask-rcnn_*'))
    assert sorted(found) == sorted(deploy_path(name) for name in RECIPES)


@pytest.mark.timeout(60)
def test_deploy_config_builds_deploy_backbone(mmdet_scope):
    cfg = Config.fromfile(deploy_path('t'))
    model = build_detector(cfg)
    keys = model.backbone.state_dict().keys()
    assert 'stages.2.0.dwconv.lk_origin.bias' in keys
    assert not any('origin_bn' in k or k.endswith('pwconv2.2.weight')
                   for k in keys)


@pytest.mark.slow
def test_tiny_forward(mmdet_scope):
    """The T config's detector runs on a tiny CPU input, train and test."""
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    cfg = Config.fromfile(config_path('t'))
    model = build_detector(cfg, device='cpu')
    model.init_weights()
    packed = demo_mm_inputs(1, [[3, 64, 96]], num_items=[2], with_mask=True,
                            num_classes=80)
    data = model.data_preprocessor(packed, True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'s0.loss_bbox', 's2.loss_mask', 'loss_rpn_cls'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k and
                torch.is_tensor(v))
    assert torch.isfinite(total)
    model.eval()
    with torch.no_grad():
        result = model.predict(data['inputs'], data['data_samples'])
    assert len(result) == 1 and 'masks' in result[0].pred_instances


def test_demo_config_keeps_the_recipe_heads(mmdet_scope):
    cfg = Config.fromfile(DEMO_CONFIG)
    assert cfg.model.backbone.arch == 'atto'
    for head, stds in zip(cfg.model.roi_head.bbox_head, TARGET_STDS):
        assert head.type == 'ConvFCBBoxHead' and head.num_classes == 3
        assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
        assert head.loss_bbox.type == 'GIoULoss' and head.reg_decoded_bbox
        assert head.bbox_coder.target_stds == stds
    assert cfg.model.roi_head.stage_loss_weights == [1, 0.5, 0.25]
    assert set(cfg.test_evaluator.metric) == {'bbox', 'segm'}
    assert [t.type for t in cfg.train_pipeline][2:4] == [
        'RandomFlip', 'RandomChoice'
    ]


@pytest.mark.timeout(120)
def test_demo_classes_are_those_of_the_generated_data(mmdet_scope, demo_root):
    """The demo config names its classes literally; they are the category
    names of the generated COCO files, in category-id order (mmdet maps
    annotations to classes by these names), one palette colour each."""
    cfg = Config.fromfile(DEMO_CONFIG)
    with open(osp.join(demo_root, 'annotations', 'instances_val.json')) as f:
        categories = sorted(json.load(f)['categories'], key=lambda c: c['id'])
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        metainfo = loader.dataset.metainfo
        assert tuple(metainfo.classes) == tuple(c['name'] for c in categories)
        assert len(metainfo.palette) == len(metainfo.classes)
    assert all(head.num_classes == len(categories)
               for head in cfg.model.roi_head.bbox_head)


def all_config_files():
    """Every config of the repository: shipped, deploy, demo and bases."""
    return sorted(
        glob.glob(
            osp.join(osp.dirname(CONFIG_DIR), '**', '*.py'), recursive=True))


@pytest.mark.timeout(120)
def test_no_config_asks_for_deterministic_algorithms():
    """``randomness.deterministic=True`` makes mmengine call
    ``torch.use_deterministic_algorithms(True)`` for the whole process: on
    a GPU every CUDA op without a deterministic kernel then raises (and
    cuBLAS asks for CUBLAS_WORKSPACE_CONFIG). Seeds are fine.

    mmdet's, mmseg's and mmpretrain's defaults arrive through our runtime
    bases; any other file can only ask for it by naming it, so those two
    kinds are resolved (resolving all 60-odd files takes minutes)."""
    root = osp.dirname(CONFIG_DIR)
    paths = []
    for path in all_config_files():
        with open(path) as f:
            if 'deterministic' in f.read() or osp.basename(path).startswith(
                    'default_runtime'):
                paths.append(path)
    assert len(paths) >= 3  # the runtime bases of the three tasks
    offenders = []
    for path in paths:
        randomness = Config.fromfile(path).get('randomness') or {}
        if randomness.get('deterministic'):
            offenders.append(osp.relpath(path, root))
    assert not offenders
