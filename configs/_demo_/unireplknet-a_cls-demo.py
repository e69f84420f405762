# CPU demo of the UniRepLKNet classification recipe: UniRepLKNet-A (atto)
# trained from scratch on the generated 5-class ImageNet-folder demo data
# (`python tools/demo_cls.py` generates it, trains and reports top-1 /
# top-5). Same classifier, optimiser, evaluation transform and metrics as
# the ImageNet configs, scaled down: 64x64 images (test: shorter side
# int(64 / 0.875) = 73, centre crop 64), lighter augmentation, no mixup,
# plain BN, 10 epochs.
_base_ = '../unireplknet/unireplknet-a_32xb128_in1k.py'

data_root = 'data/imagenet_demo'
num_classes = 5  # the class folders of the generated data
img_size = 64
max_epochs = 10

data_preprocessor = dict(num_classes=num_classes)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.0, init_cfg=None),
    head=dict(
        num_classes=num_classes,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=None)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.5, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=int(img_size / 0.875),
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
dataset = dict(
    _delete_=True,
    type='CustomDataset',
    data_root=data_root,
    with_label=True)
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(**dataset, data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(**dataset, data_prefix='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
