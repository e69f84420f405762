# Copyright (c) mmunireplk contributors. All rights reserved.
"""Every classification config carries the published recipe value by value;
the deploy variants and the other input sizes fit them."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from .conftest import CONFIG_DIR, HF, config_path

DIMS = {'atto': 320, 'femto': 384, 'pico': 512, 'nano': 640, 'tiny': 640,
        'small': 768, 'base': 1024, 'large': 1536, 'xlarge': 2048}
# IN-1K from scratch at 224: arch, drop path, mixup, cutmix, public file
IN1K = {
    'a': ('atto', 0.0, 0.3, 0.3, 'unireplknet_a_in1k_224_acc77.03.pth'),
    'f': ('femto', 0.0, 0.3, 0.3, 'unireplknet_f_in1k_224_acc78.58.pth'),
    'p': ('pico', 0.1, 0.3, 0.3, 'unireplknet_p_in1k_224_acc80.23.pth'),
    'n': ('nano', 0.1, 0.5, 0.5, 'unireplknet_n_in1k_224_acc81.64.pth'),
    't': ('tiny', 0.2, 0.8, 1.0, 'unireplknet_t_in1k_224_acc83.21.pth'),
    's': ('small', 0.4, 0.8, 1.0, 'unireplknet_s_in1k_224_acc83.91.pth'),
}
# IN-22K pretraining: config, arch, input, lr at 4096, drop path
IN22K = {
    's': ('unireplknet-s_32xb128_in21k.py', 'small', 224, 4e-3, 0.1),
    'b': ('unireplknet-b_32xb128_in21k.py', 'base', 224, 4e-3, 0.1),
    'l': ('unireplknet-l_32xb128_in21k-192px.py', 'large', 192, 1e-3, 0.1),
    'xl': ('unireplknet-xl_32xb128_in21k-192px.py', 'xlarge', 192, 1e-3,
           0.2),
}
# 22K -> 1K at 384: arch, epochs, drop path, label smoothing, EMA, file
FT384 = {
    's': ('small', 30, 0.2, 0.1, False,
          'unireplknet_s_in22k_to_in1k_384_acc86.44.pth'),
    'b': ('base', 30, 0.2, 0.1, False,
          'unireplknet_b_in22k_to_in1k_384_acc87.40.pth'),
    'l': ('large', 20, 0.3, 0.3, True,
          'unireplknet_l_in22k_to_in1k_384_acc87.88.pth'),
    'xl': ('xlarge', 20, 0.3, 0.3, True,
           'unireplknet_xl_in22k_to_in1k_384_acc87.96.pth'),
}
BGR_MEAN = [103.53, 116.28, 123.675]


def check_common(cfg: Config, arch: str, num_classes: int) -> None:
    assert cfg.default_scope == 'mmpretrain'
    assert 'mmunireplk.cls' in cfg.custom_imports.imports
    model = cfg.model
    assert model.type == 'ImageClassifier' and model.neck is None
    backbone = model.backbone
    assert backbone.type == 'mmunireplk.UniRepLKNet'
    assert backbone.arch == arch and tuple(backbone.out_indices) == (3, )
    assert backbone.out_norm is False and backbone.deploy is False
    assert backbone.layer_scale_init_value == 1e-6
    head = model.head
    assert head.type == 'mmunireplk.UniRepLKNetClsHead'
    assert (head.num_classes, head.in_channels) == (num_classes, DIMS[arch])
    assert model.data_preprocessor.num_classes == num_classes
    assert model.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert model.data_preprocessor.std == [58.395, 57.12, 57.375]
    assert model.data_preprocessor.to_rgb is True
    assert cfg.custom_hooks[0].type == 'mmunireplk.ImageNetCheckpointHook'


def check_train_pipeline(cfg: Config, size: int) -> None:
    steps = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert list(steps) == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip',
        'RandAugment', 'RandomErasing', 'PackInputs'
    ]
    crop = steps['RandomResizedCrop']
    assert crop.scale == size and crop.interpolation == 'bicubic'
    assert tuple(crop.crop_ratio_range) == (0.08, 1.0)
    assert steps['RandomFlip'].prob == 0.5
    aug = steps['RandAugment']  # rand-m9-mstd0.5-inc1
    values = (aug.policies, aug.num_policies, aug.magnitude_level,
              aug.magnitude_std, aug.total_level)
    assert values == ('timm_increasing', 2, 9, 0.5, 10)
    assert aug.hparams.interpolation == 'bicubic'
    erase = steps['RandomErasing']
    assert (erase.erase_prob, erase.mode) == (0.25, 'rand')
    assert erase.fill_color == BGR_MEAN


def check_eval_pipeline(cfg: Config, size: int) -> None:
    steps = [t for t in cfg.test_dataloader.dataset.pipeline]
    types = [t.type for t in steps]
    if size < 384:
        assert types == ['LoadImageFromFile', 'ResizeEdge', 'CenterCrop',
                         'PackInputs']
        assert steps[1].scale == int(size / 0.875)
        assert (steps[1].edge, steps[1].interpolation) == ('short',
                                                           'bicubic')
        assert steps[2].crop_size == size
    else:
        assert types == ['LoadImageFromFile', 'Resize', 'PackInputs']
        assert tuple(steps[1].scale) == (size, size)
        assert steps[1].interpolation == 'bicubic'
    evaluator = cfg.test_evaluator
    assert (evaluator.type, tuple(evaluator.topk)) == ('Accuracy', (1, 5))


def check_adamw(cfg: Config, lr: float, wd: float) -> None:
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer == dict(type='AdamW', lr=lr, betas=(0.9, 0.999),
                             eps=1e-8, weight_decay=wd)
    assert 'clip_grad' not in cfg.optim_wrapper


def check_schedule(cfg: Config, epochs: int, warmup: int) -> None:
    assert cfg.train_cfg.max_epochs == epochs
    schedulers = cfg.param_scheduler
    if warmup:
        linear, cosine = schedulers
        assert linear.type == 'LinearLR' and linear.end == warmup
        assert linear.start_factor <= 1e-6  # from ~0, as the reference
        assert linear.convert_to_iter_based
    else:
        cosine, = schedulers
    assert cosine.type == 'CosineAnnealingLR' and cosine.eta_min == 1e-6
    assert (cosine.begin, cosine.end) == (warmup, epochs)
    assert cosine.convert_to_iter_based


@pytest.mark.parametrize('name', list(IN1K))
def test_in1k_recipe(name):
    arch, dpr, mixup, cutmix, ckpt = IN1K[name]
    cfg = Config.fromfile(config_path(f'unireplknet-{name}_32xb128_in1k.py'))
    check_common(cfg, arch, 1000)
    assert cfg.checkpoint_file == HF + ckpt
    assert cfg.model.backbone.drop_path_rate == dpr
    assert cfg.model.backbone.get('init_cfg') is None  # from scratch
    assert cfg.model.head.get('init_cfg') is None
    assert cfg.model.head.head_init_scale == 1.0
    assert cfg.model.head.loss == dict(
        type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    assert cfg.model.train_cfg.augments == [
        dict(type='Mixup', alpha=mixup),
        dict(type='CutMix', alpha=cutmix)
    ]
    check_train_pipeline(cfg, 224)
    check_eval_pipeline(cfg, 224)
    # lr 4e-3 at total batch 4096 = 32 GPUs x 128, scaled linearly
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.auto_scale_lr.base_batch_size == 4096
    check_adamw(cfg, 4e-3, 0.05)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0)
    assert 'constructor' not in cfg.optim_wrapper
    check_schedule(cfg, 300, 20)
    assert not any(h.type == 'EMAHook' for h in cfg.custom_hooks)


@pytest.mark.parametrize('name', list(IN22K))
def test_in22k_recipe(name):
    config, arch, size, lr, dpr = IN22K[name]
    cfg = Config.fromfile(config_path(config))
    check_common(cfg, arch, 21841)
    assert cfg.checkpoint_file == HF + f'unireplknet_{name}_in22k_pretrain.pth'
    assert cfg.model.backbone.drop_path_rate == dpr
    assert cfg.train_dataloader.dataset.type == 'ImageNet21k'
    check_train_pipeline(cfg, size)
    assert cfg.val_dataloader is None and cfg.test_dataloader is None
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.auto_scale_lr.base_batch_size == 4096
    check_adamw(cfg, lr, 0.05)
    check_schedule(cfg, 90, 5)
    assert cfg.model.head.loss.label_smooth_val == 0.1


@pytest.mark.parametrize('name', list(FT384))
def test_in22k_to_in1k_384_recipe(name):
    arch, epochs, dpr, smoothing, ema, ckpt = FT384[name]
    cfg = Config.fromfile(
        config_path(f'unireplknet-{name}_in21k-pre_8xb64_in1k-384px.py'))
    check_common(cfg, arch, 1000)
    pretrained = HF + f'unireplknet_{name}_in22k_pretrain.pth'
    assert cfg.checkpoint_file == HF + ckpt
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=pretrained)
    assert cfg.model.head.init_cfg == dict(
        type='Pretrained', checkpoint=pretrained, reinit_mismatched_head=True)
    assert cfg.model.backbone.drop_path_rate == dpr
    assert cfg.model.head.head_init_scale == 1e-3
    assert cfg.model.head.loss.label_smooth_val == smoothing
    assert cfg.model.train_cfg is None  # no mixup / cutmix
    check_train_pipeline(cfg, 384)
    check_eval_pipeline(cfg, 384)
    assert cfg.train_dataloader.batch_size * 8 == 512
    assert cfg.auto_scale_lr.base_batch_size == 512
    check_adamw(cfg, 5e-5, 1e-8)
    assert cfg.optim_wrapper.constructor == \
        'mmunireplk.LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        num_layers=12, decay_rate=0.8, decay_type='layer_wise')
    check_schedule(cfg, epochs, 0)
    ema_hooks = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    if ema:
        assert ema_hooks == [
            dict(type='EMAHook', ema_type='ExponentialMovingAverage',
                 momentum=1e-4, update_buffers=True, priority='ABOVE_NORMAL')
        ]
    else:
        assert not ema_hooks


def test_custom_finetune_template():
    cfg = Config.fromfile(
        config_path('unireplknet-t_in1k-pre_8xb32-ft_custom.py'))
    check_common(cfg, 'tiny', 10)
    assert cfg.train_dataloader.dataset.type == 'CustomDataset'
    assert cfg.train_dataloader.dataset.data_prefix == 'train'
    assert cfg.val_dataloader.dataset.data_prefix == 'val'
    check_eval_pipeline(cfg, 224)
    assert cfg.model.head.head_init_scale == 1e-3
    assert cfg.model.head.init_cfg.reinit_mismatched_head is True
    assert cfg.model.backbone.init_cfg.checkpoint == \
        HF + 'unireplknet_t_in1k_224_acc83.21.pth'
    # num_layers fits T's 18 stage-3 blocks (ids 3..8, stage 4 -> 9)
    assert cfg.optim_wrapper.paramwise_cfg.num_layers == 9
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate == 0.8


def test_layer_decay_groups_of_finetune(mmpretrain_scope):
    """The 384 fine-tune optimiser: backbone lr scales 0.8^(13 - id)."""
    from mmengine.optim import build_optim_wrapper

    from .conftest import build_classifier
    cfg = Config.fromfile(
        config_path('unireplknet-s_in21k-pre_8xb64_in1k-384px.py'))
    cfg.merge_from_dict({'model.backbone.arch': 'atto',
                         'model.head.in_channels': 320})
    model = build_classifier(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    scales = {}
    for group in wrapper.optimizer.param_groups:
        for name in group['param_names']:
            scales[name] = (group['lr'], group['weight_decay'])
    assert scales['head.head.weight'] == (5e-5, 1e-8)
    assert scales['head.head.bias'] == (5e-5, 0.)
    assert scales['backbone.stages.3.0.pwconv1.1.weight'][0] == \
        pytest.approx(5e-5 * 0.8)
    assert scales['backbone.downsample_layers.0.0.weight'][0] == \
        pytest.approx(5e-5 * 0.8**13)
    assert scales['backbone.stages.2.0.gamma'][1] == 0.  # 1-D: no decay


# The published configs: ImageNet-1K at 224 and 22K -> 1K at 384.
PUBLISHED = [f'unireplknet-{name}_32xb128_in1k' for name in IN1K] + [
    f'unireplknet-{name}_in21k-pre_8xb64_in1k-384px' for name in FT384
]


def deploy_path(name: str) -> str:
    arch, rest = name.split('_', 1)
    return osp.join(CONFIG_DIR, 'deploy', f'{arch}-deploy_{rest}.py')


@pytest.mark.timeout(60)
@pytest.mark.parametrize('name', PUBLISHED)
def test_deploy_config_is_the_recipe_in_deploy_form(name):
    """Each published config has a deploy config; it resolves to the
    training config with ``model.backbone.deploy=True`` and nothing else."""
    cfg = Config.fromfile(deploy_path(name))
    expected = Config.fromfile(config_path(name + '.py'))
    assert expected.model.backbone.deploy is False
    expected.model.backbone.deploy = True
    assert cfg.to_dict() == expected.to_dict()


@pytest.mark.timeout(30)
def test_deploy_configs_are_the_published_ones():
    found = glob.glob(osp.join(CONFIG_DIR, 'deploy', 'unireplknet-*'))
    assert sorted(found) == sorted(deploy_path(name) for name in PUBLISHED)


@pytest.mark.timeout(60)
def test_deploy_config_builds_deploy_backbone(mmpretrain_scope):
    from .conftest import build_classifier
    cfg = Config.fromfile(deploy_path('unireplknet-t_32xb128_in1k'))
    cfg.merge_from_dict({'model.backbone.arch': 'atto',
                         'model.head.in_channels': 320})
    keys = build_classifier(cfg, device='meta').backbone.state_dict().keys()
    assert 'stages.2.0.dwconv.lk_origin.bias' in keys
    assert not any('origin_bn' in k or 'dil_conv' in k for k in keys)


@pytest.mark.parametrize('config,size', [
    ('unireplknet-s_in21k-pre_8xb64_in1k-384px.py', 384),
    ('unireplknet-l_32xb128_in21k-192px.py', 192),
    ('unireplknet-xl_32xb128_in21k-192px.py', 192),
])
@pytest.mark.timeout(60)
def test_other_sizes_keep_the_recipe_augmentation(config, size):
    """The 384 and 192 configs take the 224 training pipeline with only the
    crop size changed."""
    base = Config.fromfile(config_path('unireplknet-s_32xb128_in1k.py'))
    cfg = Config.fromfile(config_path(config))
    got = cfg.train_dataloader.dataset.pipeline
    want = base.train_dataloader.dataset.pipeline
    assert len(got) == len(want)
    for step, base_step in zip(got, want):
        if step.type == 'RandomResizedCrop':
            assert step.scale == size
            step = dict(step, scale=base_step.scale)
        assert step == base_step
