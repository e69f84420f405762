# UPerNet + UniRepLKNet-S (ImageNet-22K), ADE20K 640x640, 160k iterations.
# Published: mIoU 52.3 / 52.7 (ss / ms), 86M params, 1618G FLOPs at
# 640x2560.
# Unlike the reference's 640 configs (which kept the 512 pipeline by
# mistake), this one really trains with 640x640 crops from images resized
# to (2560, 640) and tests at (2560, 640).
_base_ = './upernet_unireplknet-s-in22k_8xb2-160k_ade20k-512x512.py'

crop_size = (640, 640)
img_scale = (2560, 640)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    {{_base_.load_annotations}},
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    {{_base_.load_annotations}},
    dict(type='PackSegInputs')
]
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
            [{{_base_.load_annotations}}],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
