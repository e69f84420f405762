# CPU demo of the UniRepLKNet UPerNet recipe: UniRepLKNet-A (atto) trained
# from scratch on the generated ADE20K-layout demo dataset
# (`python tools/demo_seg.py` writes it to data/seg_demo, trains, and
# reports single- and multi-scale mIoU). Same pipelines, evaluation and
# optimiser as the ADE20K configs, scaled down: 96x96 crops, images resized
# to (256, 96), narrow heads, plain BN (no GPU), 200 iterations.
_base_ = '../unireplknet/upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py'

# The classes of the generated data (tools/demo_seg.py writes it) and the
# RGB colour each is drawn in (the visualiser's palette); raw label 0, the
# background, is no class.
DEMO_CLASSES = ('red_disc', 'green_box', 'blue_stripes', 'yellow_ring',
                'purple_checker')
DEMO_PALETTE = [(220, 40, 40), (40, 190, 60), (50, 70, 220), (230, 210, 40),
                (160, 60, 200)]

data_root = 'data/seg_demo'
num_classes = len(DEMO_CLASSES)  # raw label 0 is ignored
crop_size = (96, 96)
img_scale = (256, 96)
max_iters = 200
warmup_iters = 20

norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='atto',
        drop_path_rate=0.0,
        use_sync_bn=False,
        init_cfg=None),
    decode_head=dict(
        in_channels=[40, 80, 160, 320],
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=160,
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg))

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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    load_annotations,
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
            [load_annotations],
            [dict(type='PackSegInputs')],
        ])
]
dataset = dict(
    _delete_=True,
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(classes=DEMO_CLASSES, palette=DEMO_PALETTE),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        **dataset,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        **dataset,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=2e-3),
    paramwise_cfg=dict(num_layers=6, decay_rate=0.9))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=0,
        end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
