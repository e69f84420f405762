# Cascade Mask R-CNN + UniRepLKNet-T (ImageNet-1K), COCO, 3x (36 epochs),
# 8 GPUs x 2 images. Published: box AP 51.7, mask AP 44.9, 89M params,
# 749G FLOPs at 1280x800.
_base_ = [
    '../_base_/models/cascade-mask-rcnn_unireplknet_fpn_4conv1fc-giou.py',
    '../_base_/datasets/coco-instance_ms-crop.py',
    '../_base_/schedules/schedule_adamw-lrd_3x.py',
    '../_base_/default_runtime_det.py',
]

# ImageNet-1K checkpoint (public file name, Hugging Face repo
# DingXiaoH/UniRepLKNet); override with e.g. --cfg-options
# model.backbone.init_cfg.checkpoint=/path/to/unireplknet_t_in1k_224_acc83.21.pth
checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_t_in1k_224_acc83.21.pth'  # noqa
model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[80, 160, 320, 640]))
