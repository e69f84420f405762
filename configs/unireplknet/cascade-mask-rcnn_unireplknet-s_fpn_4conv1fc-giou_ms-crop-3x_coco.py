# Cascade Mask R-CNN + UniRepLKNet-S (ImageNet-1K), COCO, 3x.
# Published: box AP 53.0, mask AP 45.9, 113M params, 835G FLOPs (1280x800).
_base_ = [
    '../_base_/models/cascade-mask-rcnn_unireplknet_fpn_4conv1fc-giou.py',
    '../_base_/datasets/coco-instance_ms-crop.py',
    '../_base_/schedules/schedule_adamw-lrd_3x.py',
    '../_base_/default_runtime_det.py',
]

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_s_in1k_224_acc83.91.pth'  # noqa
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
