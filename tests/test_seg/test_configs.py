# Copyright (c) mmunireplk contributors. All rights reserved.
"""Every UPerNet config loads, builds, and carries the published recipe."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS

from tests.helpers import load_tool

from .conftest import CONFIG_DIR, DEMO_CONFIG

HF = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
# name: (arch, dims, crop, drop path, decay rate, num_layers, with_cp,
#        ImageNet checkpoint, published params in M (inference model))
RECIPES = {
    'upernet_unireplknet-t_8xb2-160k_ade20k-512x512':
    ('tiny', (80, 160, 320, 640), 512, 0.2, 1.0, 9, False,
     'unireplknet_t_in1k_224_acc83.21.pth', 61),
    'upernet_unireplknet-s_8xb2-160k_ade20k-512x512':
    ('small', (96, 192, 384, 768), 512, 0.3, 0.9, 12, True,
     'unireplknet_s_in1k_224_acc83.91.pth', 86),
    'upernet_unireplknet-s-in22k_8xb2-160k_ade20k-512x512':
    ('small', (96, 192, 384, 768), 512, 0.3, 0.9, 12, True,
     'unireplknet_s_in22k_to_in1k_384_acc86.44.pth', 86),
    'upernet_unireplknet-s-in22k_8xb2-160k_ade20k-640x640':
    ('small', (96, 192, 384, 768), 640, 0.3, 0.9, 12, True,
     'unireplknet_s_in22k_to_in1k_384_acc86.44.pth', 86),
    'upernet_unireplknet-b-in22k_8xb2-160k_ade20k-640x640':
    ('base', (128, 256, 512, 1024), 640, 0.3, 0.9, 12, True,
     'unireplknet_b_in22k_to_in1k_384_acc87.40.pth', 130),
    'upernet_unireplknet-l-in22k_8xb2-160k_ade20k-640x640':
    ('large', (192, 384, 768, 1536), 640, 0.4, 0.85, 12, True,
     'unireplknet_l_in22k_to_in1k_384_acc87.88.pth', 254),
    # XL: drop path / lr decay not published, chosen in the config.
    'upernet_unireplknet-xl-in22k_8xb2-160k_ade20k-640x640':
    ('xlarge', (256, 512, 1024, 2048), 640, 0.5, 0.85, 12, True,
     'unireplknet_xl_in22k_to_in1k_384_acc87.96.pth', 425),
}


# The small models have no published segmentation recipe; their configs are
# checked by tests/test_cls/test_small_downstream.py.
SMALL = ('a', 'f', 'p', 'n')


def test_every_config_is_covered():
    names = {
        osp.splitext(osp.basename(p))[0]
        for p in glob.glob(osp.join(CONFIG_DIR, 'upernet_*.py'))
    }
    published = {
        n for n in names
        if n.split('_')[1].split('-')[1] not in SMALL
    }
    assert published == set(RECIPES)
    assert names - published == {
        f'upernet_unireplknet-{s}_8xb2-160k_ade20k-512x512' for s in SMALL}


def _by_type(pipeline, type_name):
    found = [t for t in pipeline if t['type'] == type_name]
    assert len(found) == 1, (type_name, pipeline)
    return found[0]


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe(name):
    (arch, dims, crop, dpr, decay, num_layers, with_cp, ckpt,
     _) = RECIPES[name]
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))
    scale = (2048, 512) if crop == 512 else (2560, 640)
    model = cfg.model

    # Backbone
    backbone = model.backbone
    assert backbone.type == 'mmunireplk.UniRepLKNet'
    assert backbone.arch == arch
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    assert backbone.drop_path_rate == dpr
    assert backbone.with_cp is with_cp
    assert backbone.use_sync_bn is True
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.checkpoint == HF + ckpt
    assert model.get('pretrained') is None

    # Heads
    head = model.decode_head
    assert head.type == 'UPerHead'
    assert list(head.in_channels) == list(dims)
    assert list(head.in_index) == [0, 1, 2, 3]
    assert tuple(head.pool_scales) == (1, 2, 3, 6)
    assert head.channels == 512
    assert head.dropout_ratio == 0.1
    assert head.num_classes == 150
    assert head.norm_cfg.type == 'SyncBN'
    assert head.loss_decode.loss_weight == 1.0
    aux = model.auxiliary_head
    assert aux.type == 'FCNHead'
    assert aux.in_index == 2 and aux.in_channels == dims[2]
    assert aux.channels == 256 and aux.num_convs == 1
    assert aux.concat_input is False
    assert aux.num_classes == 150
    assert aux.norm_cfg.type == 'SyncBN'
    assert aux.loss_decode.loss_weight == 0.4
    assert model.test_cfg.mode == 'whole'
    assert tuple(model.data_preprocessor.size) == (crop, crop)
    assert model.data_preprocessor.seg_pad_val == 255

    # Data: 8 GPUs x 2 images, ADE20K with reduce_zero_label
    train_ds = cfg.train_dataloader.dataset
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert train_ds.type == 'ADE20KDataset'
    assert train_ds.reduce_zero_label is True
    assert cfg.test_dataloader.dataset.reduce_zero_label is True
    train = train_ds.pipeline
    resize = _by_type(train, 'RandomResize')
    assert tuple(resize.scale) == scale
    assert tuple(resize.ratio_range) == (0.5, 2.0) and resize.keep_ratio
    random_crop = _by_type(train, 'RandomCrop')
    assert tuple(random_crop.crop_size) == (crop, crop)
    assert random_crop.cat_max_ratio == 0.75
    assert _by_type(train, 'RandomFlip').prob == 0.5
    _by_type(train, 'PhotoMetricDistortion')
    assert _by_type(train, 'mmunireplk.LoadCheckedAnnotations'
                    ).num_classes == 150

    # Single-scale test: keep-ratio resize then resize to a multiple of 32
    test = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
    assert test == [
        'LoadImageFromFile', 'Resize', 'ResizeToMultiple',
        'mmunireplk.LoadCheckedAnnotations', 'PackSegInputs'
    ]
    test_resize = cfg.test_dataloader.dataset.pipeline[1]
    assert tuple(test_resize.scale) == scale and test_resize.keep_ratio
    assert cfg.test_dataloader.dataset.pipeline[2].size_divisor == 32
    assert cfg.test_evaluator.type == 'mmunireplk.PerClassIoUMetric'

    # Multi-scale test
    assert cfg.tta_model.type == 'SegTTAModel'
    aug = cfg.tta_pipeline[1]
    assert aug.type == 'TestTimeAug'
    scales = [tuple(t.scale) for t in aug.transforms[0]]
    ratios = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    assert scales == [(int(scale[0] * r), int(scale[1] * r)) for r in ratios]
    assert all(t.keep_ratio and 'scale_factor' not in t
               for t in aug.transforms[0])
    assert [t.type for t in aug.transforms[1]] == ['ResizeToMultiple']
    assert sorted(t.prob for t in aug.transforms[2]) == [0., 1.]

    # Optimiser
    optim = cfg.optim_wrapper
    assert optim.type == 'OptimWrapper'
    assert optim.optimizer.type == 'AdamW'
    assert optim.optimizer.lr == 1e-4
    assert optim.optimizer.weight_decay == 0.05
    assert tuple(optim.optimizer.betas) == (0.9, 0.999)
    assert optim.constructor == 'mmunireplk.LayerDecayOptimWrapperConstructor'
    assert optim.paramwise_cfg.decay_rate == decay
    assert optim.paramwise_cfg.num_layers == num_layers
    assert optim.paramwise_cfg.decay_type == 'layer_wise'
    assert 'clip_grad' not in optim or optim.clip_grad is None

    # Schedule
    assert cfg.train_cfg.max_iters == 160000
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'PolyLR']


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_model_builds(name):
    """The model builds (on the meta device: no memory, no download); in
    the inference form (re-parameterised backbone, no auxiliary head) it
    has the published parameter count (within 1%)."""
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'EncoderDecoder'
    assert type(model.backbone).__name__ == 'UniRepLKNet'
    assert model.backbone.dims == RECIPES[name][1]
    assert model.backbone.with_cp is RECIPES[name][6]
    assert any(
        isinstance(m, torch.nn.SyncBatchNorm)
        for m in model.backbone.modules())

    cfg.model.backbone.deploy = True
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    params = sum(p.numel() for n, p in model.named_parameters()
                 if not n.startswith('auxiliary_head.')) / 1e6
    published = RECIPES[name][8]
    assert abs(params - published) / published < 0.01, (params, published)


def test_schedule_reproduces_reference_poly_with_warmup():
    """lr(t) = 1e-4 * (1e-6 + (1 - 1e-6) * min(t, 1500) / 1500)
    * (1 - t / 160000), as mmcv 1.x's poly policy with linear warm-up."""
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR,
                 'upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py'))
    for name in RECIPES:
        other = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))
        assert other.param_scheduler == cfg.param_scheduler, name

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1e-4)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
        for s in cfg.param_scheduler
    ]

    def expected(t):
        warm = 1e-6 + (1 - 1e-6) * min(t, 1500) / 1500
        return 1e-4 * warm * (1 - t / 160000)

    checks = {0, 1, 750, 1499, 1500, 1501, 40000, 80000, 159999}
    for t in range(160000):
        if t in checks:
            lr = optimizer.param_groups[0]['lr']
            assert lr == pytest.approx(expected(t), rel=1e-6, abs=1e-15), t
        for scheduler in schedulers:
            scheduler.step()
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0., abs=1e-15)


def deploy_path(name: str) -> str:
    return osp.join(CONFIG_DIR, 'deploy',
                    name.replace('_8xb2-', '-deploy_8xb2-') + '.py')


@pytest.mark.timeout(60)
@pytest.mark.parametrize('name', sorted(RECIPES))
def test_deploy_config_is_the_recipe_in_deploy_form(name):
    """Each published config has a deploy config; it resolves to the
    training config with ``model.backbone.deploy=True`` and nothing else."""
    cfg = Config.fromfile(deploy_path(name))
    expected = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))
    assert expected.model.backbone.get('deploy', False) is False
    expected.model.backbone.deploy = True
    assert cfg.to_dict() == expected.to_dict()


@pytest.mark.timeout(30)
def test_deploy_configs_are_the_published_ones():
    found = glob.glob(osp.join(CONFIG_DIR, 'deploy', 'upernet_*'))
    assert sorted(found) == sorted(deploy_path(name) for name in RECIPES)


@pytest.mark.timeout(60)
def test_demo_metainfo_is_that_of_the_generated_data():
    """The demo config writes its classes and palette literally; they are
    the generator's (label i + 1 of the PNGs is class i)."""
    demo_data = load_tool('tools/demo_seg_data.py')
    cfg = Config.fromfile(DEMO_CONFIG)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        metainfo = loader.dataset.metainfo
        assert tuple(metainfo.classes) == tuple(demo_data.DEMO_CLASSES)
        assert [tuple(c) for c in metainfo.palette] == \
            [tuple(c) for c in demo_data.DEMO_PALETTE]
    assert cfg.model.decode_head.num_classes == len(demo_data.DEMO_CLASSES)
