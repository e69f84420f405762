# ADE20K (mmseg's dataset settings) as the UniRepLKNet UPerNet recipe uses
# it: 512x512 crops of images resized to (2048, 512) x 0.5..2, labels checked
# while loading (missing files, size mismatches, values outside 0..149/255
# give clear errors), single- and multi-scale test pipelines.
_base_ = 'mmseg::_base_/datasets/ade20k.py'

num_classes = 150
crop_size = (512, 512)
img_scale = (2048, 512)

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
