# Cascade Mask R-CNN + UniRepLKNet-L (ImageNet-22K), COCO, 3x, with EMA.
# Published: box AP 55.8, mask AP 48.4, 276M params, 1385G FLOPs (1280x800).
_base_ = './cascade-mask-rcnn_unireplknet-s-in22k_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_l_in22k_pretrain.pth'  # noqa
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
# lr decay rate 0.7 (T/S/B: 0.8)
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7))
