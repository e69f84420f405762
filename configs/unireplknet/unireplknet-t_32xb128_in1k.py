# UniRepLKNet-T, ImageNet-1K from scratch at 224, 300 epochs, 32 GPUs x 128
# images (total batch 4096). Public result: unireplknet_t_in1k_224_acc83.21.pth
# (top-1 83.21, 31M params, 4.9G FLOPs). This file holds the recipe shared by
# all UniRepLKNet classification configs; the others override what differs.
#
#   python tools/train.py CONFIG                       # train (needs ImageNet)
#   python tools/test.py CONFIG unireplknet_t_in1k_224_acc83.21.pth
#       (the public file is detected and mapped in memory by
#       mmunireplk.ImageNetCheckpointHook; or convert it once with
#       tools/model_converters/unireplknet_to_mmpretrain.py)
#   --cfg-options model.backbone.deploy=True           # re-parameterised form
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['mmunireplk', 'mmunireplk.cls'], allow_failed_imports=False)

# The public ImageNet file this config reproduces (Hugging Face repo
# DingXiaoH/UniRepLKNet). Training starts from scratch; to evaluate or to
# start from it, pass it (or a local copy) as tools/test.py CONFIG FILE or
# --cfg-options load_from=FILE (public layout accepted, see custom_hooks).
hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_t_in1k_224_acc83.21.pth'
load_from = None

num_classes = 1000
img_size = 224
# Evaluation as the reference: below 384 the shorter side is resized to
# int(size / 0.875) (bicubic) and centre-cropped; see the 384 configs.
test_resize = int(img_size / 0.875)

# ImageNet mean / std of RGB in [0, 255]; images are loaded as BGR.
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

model = dict(
    type='ImageClassifier',
    data_preprocessor=data_preprocessor,
    # The reference classifier: last stage -> global average pool ->
    # LayerNorm `norm` (eps 1e-6) -> Linear `head`. out_norm=False: the
    # backbone returns the raw stage output (no `norm3`), so the public
    # files load one to one (backbone.* / head.norm.* / head.head.*).
    backbone=dict(
        type='mmunireplk.UniRepLKNet',
        arch='tiny',
        out_indices=(3, ),
        out_norm=False,
        drop_path_rate=0.2,
        layer_scale_init_value=1e-6,
        # True builds the re-parameterised backbone (for checkpoints
        # converted by tools/model_converters/unireplknet_reparameterize.py)
        deploy=False),
    neck=None,
    head=dict(
        type='mmunireplk.UniRepLKNetClsHead',
        num_classes=num_classes,
        in_channels=640,
        head_init_scale=1.0,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original')),
    # timm Mixup(mixup_alpha, cutmix_alpha, prob 1.0, switch_prob 0.5): one
    # of the two, chosen uniformly, on every batch.
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))

# RandAugment rand-m9-mstd0.5-inc1 (2 ops, magnitude 9 of 10, std 0.5,
# increasing policies), bicubic RandomResizedCrop (0.08-1, 3/4-4/3), flip,
# random erasing 0.25 in pixel mode (per-pixel normal noise, one box). The
# reference's colour jitter 0.4 is inactive when RandAugment is on (timm),
# so there is none here.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.08, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=test_resize,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
# 128 images per GPU x 32 GPUs = 4096
train_dataloader = dict(
    batch_size=128, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

# AdamW (eps 1e-8), lr 4e-3 at total batch 4096 (`--auto-scale-lr` scales it
# linearly to the real batch), weight decay 0.05 except for 1-D parameters
# and biases (norms, layer scale; GRN gamma/beta are 4-D and decay).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-3, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
auto_scale_lr = dict(base_batch_size=4096)

# 300 epochs: per-iteration linear warm-up over 20 epochs from ~0 (the
# reference starts at 0, which mmengine's LinearLR cannot), then cosine to
# an absolute 1e-6.
max_epochs = 300
warmup_epochs = 20
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

# Accept the public ImageNet files wherever a checkpoint is loaded
# (load_from, tools/test.py): layout detected, mapped in memory, logged.
# Checkpoints as plain data (they load weights-only) with the RNG states
# (--resume is exact); kept by mmpretrain's own tools too.
custom_hooks = [
    dict(type='mmunireplk.ImageNetCheckpointHook'),
    dict(type='mmunireplk.SafeCheckpointHook'),
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
