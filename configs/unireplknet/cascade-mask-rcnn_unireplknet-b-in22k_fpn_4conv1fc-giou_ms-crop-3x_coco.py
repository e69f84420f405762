# Cascade Mask R-CNN + UniRepLKNet-B (ImageNet-22K), COCO, 3x, with EMA.
# Published: box AP 54.8, mask AP 47.4, 155M params, 978G FLOPs (1280x800).
_base_ = './cascade-mask-rcnn_unireplknet-s-in22k_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_b_in22k_pretrain.pth'  # noqa
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.6,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
