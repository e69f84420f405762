# UniRepLKNet-S, ImageNet-22K pretrained -> ImageNet-1K fine-tuned at 384,
# 30 epochs, 8 GPUs x 64 images (total batch 512). Starts from
# unireplknet_s_in22k_pretrain.pth; public result:
# unireplknet_s_in22k_to_in1k_384_acc86.44.pth (top-1 86.44, 56M params,
# 26.7G FLOPs at 384). This file holds the fine-tuning recipe shared by the
# S/B/L/XL 384 configs.
_base_ = './unireplknet-s_32xb128_in1k.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
# The starting point (override: --cfg-options
# model.backbone.init_cfg.checkpoint=PATH model.head.init_cfg.checkpoint=PATH)
pretrained_file = hf_root + 'unireplknet_s_in22k_pretrain.pth'
checkpoint_file = hf_root + 'unireplknet_s_in22k_to_in1k_384_acc86.44.pth'

img_size = 384
model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_file)),
    # As the reference's fine-tuning: the 22K `norm` is kept, the 21841-way
    # `head` does not fit 1000 classes and starts fresh, its trunc-normal
    # init scaled by head_init_scale 1e-3.
    head=dict(
        head_init_scale=1e-3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=pretrained_file,
            reinit_mismatched_head=True)),
    train_cfg=None)  # no mixup / cutmix

# The recipe's augmentation (unireplknet-s_32xb128_in1k.py) with the crop at
# 384.
train_pipeline = [
    dict(step, scale=img_size) if step['type'] == 'RandomResizedCrop' else step
    for step in _base_.train_pipeline
]
# At 384 and above the reference resizes to size x size (bicubic), no crop.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='Resize',
        scale=(img_size, img_size),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='PackInputs'),
]
# 64 images per GPU x 8 GPUs = 512
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# AdamW lr 5e-5 at total batch 512, weight decay 1e-8, layer-wise lr decay
# 0.8 over ConvNeXt-style layer ids (num_layers 12: stage-3 block j has id
# 3 + j // 3, i.e. 3..11 for 27 blocks; stage 4 is 12; the head 13 keeps
# the full lr); no weight decay for 1-D parameters and biases.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=5e-5, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=1e-8),
    constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=12, decay_rate=0.8,
                       decay_type='layer_wise'))
auto_scale_lr = dict(base_batch_size=512)

# No warm-up; cosine from the start to an absolute 1e-6 (the trainer's
# min_lr).
max_epochs = 30
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
