# Cascade Mask R-CNN + UniRepLKNet-T (ImageNet-1K), COCO, 3x (36 epochs),
# 8 GPUs x 2 images. Published: box AP 51.7, mask AP 44.9, 89M params,
# 749G FLOPs at 1280x800. This file holds the recipe shared by all the
# UniRepLKNet Cascade Mask R-CNN configs; the others override what differs.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['mmunireplk', 'mmunireplk.det'], allow_failed_imports=False)

# ImageNet-1K checkpoint (public file name, Hugging Face repo
# DingXiaoH/UniRepLKNet); override with e.g. --cfg-options
# model.backbone.init_cfg.checkpoint=/path/to/unireplknet_t_in1k_224_acc83.21.pth
checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_t_in1k_224_acc83.21.pth'  # noqa

# One cascade stage's bbox head: 4 shared convs + 1 fc (4conv1fc) with SyncBN
# (tools/train.py turns it into BN when no GPU is available), class-aware
# regression of decoded boxes with a GIoU loss. Stages differ in target_stds.
bbox_head_4conv1fc = dict(
    type='ConvFCBBoxHead',
    num_shared_convs=4,
    num_shared_fcs=1,
    in_channels=256,
    conv_out_channels=256,
    fc_out_channels=1024,
    roi_feat_size=7,
    num_classes=80,
    reg_class_agnostic=False,
    reg_decoded_bbox=True,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


model = dict(
    backbone=dict(
        _delete_=True,
        type='mmunireplk.UniRepLKNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        layer_scale_init_value=1e-6,
        with_cp=True,
        use_sync_bn=True,
        # True builds the re-parameterised backbone, e.g. to test a
        # checkpoint converted by tools/model_converters/reparameterize.py
        deploy=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[80, 160, 320, 640]),
    roi_head=dict(
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_head=[
            dict(
                bbox_head_4conv1fc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.1, 0.1, 0.2, 0.2])),
            dict(
                bbox_head_4conv1fc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.05, 0.05, 0.1, 0.1])),
            dict(
                bbox_head_4conv1fc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.033, 0.033, 0.067, 0.067])),
        ],
        mask_head=dict(num_convs=4)))

# Flip, then either a multi-scale resize or a resize + random crop +
# multi-scale resize (the DETR-style augmentation; not LSJ). Padding to a
# multiple of 32 happens in the data preprocessor (pad_size_divisor=32).
ms_scales = [(1333, s) for s in range(480, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales,
                  keep_ratio=True)],
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(1333, 400), (1333, 500), (1333, 600)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(384, 600),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=ms_scales,
                    keep_ratio=True)
            ],
        ]),
    dict(type='PackDetInputs')
]
# 16 images per iteration in total: 8 GPUs x 2.
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
# Test: single scale 1333x800, keep ratio (the base's test pipeline).

# AdamW with layer-wise lr decay (ConvNeXt-style layer ids, 12 layers), no
# weight decay for 1-D parameters and biases, no gradient clipping, fp32.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=12, decay_rate=0.8, decay_type='layer_wise'))

# 3x: 36 epochs, linear warm-up over 500 iterations from 0.001 x lr, lr x0.1
# after epochs 27 and 33.
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
# Checkpoints as plain data (they load weights-only) with the RNG states
# (--resume is exact); kept by mmdet's/mmseg's own tools too.
custom_hooks = [dict(type='mmunireplk.SafeCheckpointHook')]
auto_scale_lr = dict(enable=False, base_batch_size=16)
