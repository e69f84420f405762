# UPerNet + UniRepLKNet-T, ADE20K 512x512, 160k iterations, 8 GPUs x 2 images.
# Published: mIoU 48.6 (single scale) / 49.1 (multi-scale), 61M params,
# 946G FLOPs at 512x2048. This file holds the recipe shared by all the
# UniRepLKNet UPerNet configs; the others override what differs.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(
    imports=['mmunireplk', 'mmunireplk.seg'], allow_failed_imports=False)

num_classes = 150
crop_size = (512, 512)
img_scale = (2048, 512)
# ImageNet-1K checkpoint (public file name, Hugging Face repo
# DingXiaoH/UniRepLKNet); a local path works too.
checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_t_in1k_224_acc83.21.pth'  # noqa

norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmunireplk.UniRepLKNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        layer_scale_init_value=1e-6,
        with_cp=False,
        use_sync_bn=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(
        in_channels=[80, 160, 320, 640],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=320,
        in_index=2,
        channels=256,
        num_convs=1,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        loss_decode=dict(loss_weight=0.4)),
    test_cfg=dict(mode='whole'))

# Data. Labels are checked while loading (missing files, size mismatches,
# values outside 0..149/255 give clear errors).
load_annotations = dict(
    type='mmunireplk.LoadCheckedAnnotations', num_classes=num_classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
# Single scale, as published: whole image, keep-ratio resize, then resize
# (not pad) to a multiple of 32. The prediction is resized back to the
# original image size for the metric (labels are loaded after resizing).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    load_annotations,
    dict(type='PackSegInputs')
]
# Multi-scale (`tools/test.py ... --tta`), the reference's semantics:
# keep-ratio resize to img_scale * r (not mmseg 1.x's scale_factor=r of the
# original image), resize to a multiple of 32, with and without flip;
# SegTTAModel averages the softmax of the 12 predictions (each resized back
# to the original size).
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(img_scale[0] * r), int(img_scale[1] * r)),
                    keep_ratio=True) for r in img_ratios
            ],
            [dict(type='ResizeToMultiple', size_divisor=32)],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [load_annotations],
            [dict(type='PackSegInputs')],
        ])
]
tta_model = dict(type='SegTTAModel')

# 16 images per iteration in total: 8 GPUs x 2.
train_dataloader = dict(
    batch_size=2,
    dataset=dict(reduce_zero_label=True, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(reduce_zero_label=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmunireplk.PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# AdamW with layer-wise lr decay (T: rate 1.0, 9 layers, i.e. no decay).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=9, decay_rate=1.0, decay_type='layer_wise'))
# Linear warm-up over 1500 iterations from 1e-6 x lr, multiplied by a poly
# decay (power 1) to 0 over the 160k iterations; both schedulers start at 0,
# which reproduces the reference's mmcv 1.x `poly` policy with linear
# warm-up exactly: lr(t) = 1e-4 * (1e-6 + (1 - 1e-6) * min(t, 1500) / 1500)
# * (1 - t / 160000). (mmengine schedulers reach their final value at
# `end - 1`, hence 1501 and 160001.)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1501),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=0,
        end=160001),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000,
                 val_interval=16000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000))
# Checkpoints as plain data (they load weights-only) with the RNG states
# (--resume is exact); kept by mmseg's own tools too.
custom_hooks = [dict(type='mmunireplk.SafeCheckpointHook')]
auto_scale_lr = dict(enable=False, base_batch_size=16)
