# UniRepLKNet-XL, ImageNet-22K pretrained -> ImageNet-1K fine-tuned at 384,
# 20 epochs, total batch 512, label smoothing 0.3, EMA of the weights (decay
# 0.9999) used for evaluation. Public result:
# unireplknet_xl_in22k_to_in1k_384_acc87.96.pth (top-1 87.96, 386M params,
# 187G FLOPs at 384).
_base_ = './unireplknet-s_in21k-pre_8xb64_in1k-384px.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
pretrained_file = hf_root + 'unireplknet_xl_in22k_pretrain.pth'
checkpoint_file = hf_root + 'unireplknet_xl_in22k_to_in1k_384_acc87.96.pth'
model = dict(
    backbone=dict(
        arch='xlarge',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_file)),
    head=dict(
        in_channels=2048,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.3,
                  mode='original'),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=pretrained_file,
            reinit_mismatched_head=True)))

max_epochs = 20
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
# EMA (timm ModelEma: weights and buffers, decay 0.9999 = momentum 1e-4, no
# warm-up); validation and test swap the EMA weights in. Runs after the
# public-file hook (priority VERY_HIGH), so a public file loads into both.
custom_hooks = [
    dict(type='mmunireplk.ImageNetCheckpointHook'),
    dict(
        type='EMAHook',
        ema_type='ExponentialMovingAverage',
        momentum=1e-4,
        update_buffers=True,
        priority='ABOVE_NORMAL'),
    dict(type='mmunireplk.SafeCheckpointHook'),
]
