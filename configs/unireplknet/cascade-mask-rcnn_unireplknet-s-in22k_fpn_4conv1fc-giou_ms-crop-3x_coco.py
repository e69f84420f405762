# Cascade Mask R-CNN + UniRepLKNet-S (ImageNet-22K), COCO, 3x, with EMA.
# Published: box AP 54.3, mask AP 47.1, 113M params, 835G FLOPs (1280x800).
# The recipe shared by the ImageNet-22K configs (B, L, XL inherit it).
_base_ = './cascade-mask-rcnn_unireplknet-s_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

# ImageNet-22K pre-trained checkpoint (public file name).
checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_s_in22k_pretrain.pth'  # noqa
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)))

# EMA of the weights and the buffers; momentum 1e-4 with the exponential
# warm-up of gamma 2000 iterations (mmdet's ExpMomentumEMA), as the
# reference's ExpMomentumEMAHook. Validation and checkpoints use the EMA.
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=1e-4,
        gamma=2000,
        update_buffers=True,
        priority=49),
    dict(type='mmunireplk.SafeCheckpointHook'),
]
