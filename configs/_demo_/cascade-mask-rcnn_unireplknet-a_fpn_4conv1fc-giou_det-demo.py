# CPU demo: Cascade Mask R-CNN + UniRepLKNet-A on the generated shapes
# dataset (`python tools/demo_det.py` writes it to data/det_demo, trains and
# reports COCO box and mask AP). The recipe of
# the COCO configs (4conv1fc GIoU cascade heads with class-aware regression,
# stage weights 1/0.5/0.25, FCN mask head, flip + random-choice resize/crop,
# AdamW, warm-up + steps, CocoMetric bbox+segm), scaled down to run in
# minutes on 2 CPU cores: atto backbone trained from scratch (no ImageNet
# weights can be downloaded here), 128 px images, 64-channel FPN and heads,
# fewer proposals and RoIs, no lr decay across layers (nothing pretrained).
_base_ = '../unireplknet/cascade-mask-rcnn_unireplknet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py'  # noqa

# The classes of the generated data (tools/demo_det.py writes it)
classes = ('rectangle', 'ellipse', 'triangle')

data_root = 'data/det_demo/'
num_classes = len(classes)
channels = 64

bbox_head_small = dict(
    type='ConvFCBBoxHead',
    num_shared_convs=4,
    num_shared_fcs=1,
    in_channels=channels,
    conv_out_channels=channels,
    fc_out_channels=256,
    roi_feat_size=7,
    num_classes=num_classes,
    reg_class_agnostic=False,
    reg_decoded_bbox=True,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
rcnn_sampler = dict(
    type='RandomSampler',
    num=64,
    pos_fraction=0.25,
    neg_pos_ub=-1,
    add_gt_as_proposals=True)

model = dict(
    backbone=dict(
        arch='atto',
        drop_path_rate=0.,
        # the recipe's layer scale: with lr 2e-3 it trained better than 1.0
        # on this data (see docs/detection.md)
        layer_scale_init_value=1e-6,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=channels),
        bbox_head=[
            dict(
                bbox_head_small,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.1, 0.1, 0.2, 0.2])),
            dict(
                bbox_head_small,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.05, 0.05, 0.1, 0.1])),
            dict(
                bbox_head_small,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.033, 0.033, 0.067, 0.067])),
        ],
        mask_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=channels),
        mask_head=dict(
            in_channels=channels,
            conv_out_channels=channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=[
            dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=thr,
                    neg_iou_thr=thr,
                    min_pos_iou=thr,
                    match_low_quality=False,
                    ignore_iof_thr=-1),
                sampler=rcnn_sampler,
                mask_size=28,
                pos_weight=-1,
                debug=False) for thr in (0.5, 0.6, 0.7)
        ]),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=20)))

# The recipe's augmentation at 1/6 of the COCO scale (shorter side 96..160
# instead of 480..800); padding to a multiple of 32 as in the recipe.
ms_scales = [(256, s) for s in (96, 128, 160)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
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
                    scales=[(256, 112), (256, 128), (256, 144)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(96, 128),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=ms_scales,
                    keep_ratio=True)
            ],
        ]),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
metainfo = dict(
    classes=classes, palette=[(220, 20, 60), (0, 128, 255), (0, 170, 0)])
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator

# From scratch: a higher lr than fine-tuning, no decay across layers.
max_epochs = 8
optim_wrapper = dict(
    optimizer=dict(lr=2e-3),
    paramwise_cfg=dict(decay_rate=1.0))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[7],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=2, max_keep_ckpts=1))
# Seeded, without deterministic=True: on a GPU that makes mmengine call
# torch.use_deterministic_algorithms(True), under which CUDA ops without a
# deterministic kernel raise (and cuBLAS needs CUBLAS_WORKSPACE_CONFIG).
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
