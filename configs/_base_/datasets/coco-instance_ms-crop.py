# COCO instance segmentation (mmdet's dataset settings) with the training
# augmentation of the UniRepLKNet detection recipe: flip, then either a
# multi-scale resize or a resize + random crop + multi-scale resize (the
# DETR-style augmentation; not LSJ). Padding to a multiple of 32 happens in
# the data preprocessor (pad_size_divisor=32). Test: mmdet's single scale
# 1333x800, keep ratio.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

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
# Workers re-created every epoch (not persistent): a resumed epoch-based run
# then seeds them as the uninterrupted run did, so --resume is exact.
train_dataloader = dict(
    batch_size=2,
    persistent_workers=False,
    dataset=dict(pipeline=train_pipeline))
