# Cascade Mask R-CNN + UniRepLKNet-P (pico, ImageNet-1K), COCO, 3x.
# Not published by the paper: the T recipe with this backbone; params / FLOPs
# measured in docs/classification.md ("Small models downstream").
_base_ = [
    '../_base_/models/cascade-mask-rcnn_unireplknet_fpn_4conv1fc-giou.py',
    '../_base_/datasets/coco-instance_ms-crop.py',
    '../_base_/schedules/schedule_adamw-lrd_3x.py',
    '../_base_/default_runtime_det.py',
]

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_p_in1k_224_acc80.23.pth'  # noqa
# Drop path: the published detection rates are the ImageNet rate + 0.1
# (T 0.2 -> 0.3, S 0.4 -> 0.5); pico trained with 0.1 -> 0.2.
model = dict(
    backbone=dict(
        arch='pico',
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[64, 128, 256, 512]))
# Layer-wise lr decay with num_layers fitting the depth: stage-3 block j has
# layer id 3 + j // 3, so pico's 6 stage-3 blocks take ids 3..4; stage 4
# is num_layers = 5 (T: 18 blocks -> 9, S..XL: 27 -> 12). num_layers 12
# here would leave ids 5..11 empty and decay everything below stage 4
# by an extra 0.8^7. Rate 0.8 per layer as published for T and S.
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=5, decay_rate=0.8,
                       decay_type='layer_wise'))
