# ImageNet-1K (mmpretrain's dataset settings) with the augmentation of the
# UniRepLKNet classification recipe at 224, 128 images per GPU.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

img_size = 224
# Evaluation as the reference: below 384 the shorter side is resized to
# int(size / 0.875) (bicubic) and centre-cropped; see the 384 configs.
test_resize = int(img_size / 0.875)

# ImageNet mean / std of RGB in [0, 255]; images are loaded as BGR.
data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

# RandAugment rand-m9-mstd0.5-inc1 (2 ops, magnitude 9 of 10, std 0.5,
# increasing policies), bicubic RandomResizedCrop (0.08-1, 3/4-4/3), flip,
# random erasing 0.25 in pixel mode (per-pixel normal noise, one box). The
# reference's colour jitter 0.4 is inactive when RandAugment is on (timm),
# so there is none here. Other input sizes replace the crop's `scale`.
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
