# Cascade Mask R-CNN + UniRepLKNet-XL (ImageNet-22K), COCO, 3x, with EMA.
# Published: box AP 56.4, mask AP 49.0, 443M params, 1952G FLOPs (1280x800).
_base_ = './cascade-mask-rcnn_unireplknet-s-in22k_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_xl_in22k_pretrain.pth'  # noqa
model = dict(
    backbone=dict(
        arch='xlarge',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
# lr decay rate 0.7 (T/S/B: 0.8)
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7))
