# UPerNet + UniRepLKNet-S (ImageNet-22K), ADE20K 640x640, 160k iterations.
# Published: mIoU 52.3 / 52.7 (ss / ms), 86M params, 1618G FLOPs at
# 640x2560. The recipe of the 640 configs (B, L, XL inherit it): 640x640
# crops from images resized to (2560, 640), tested at (2560, 640).
_base_ = [
    '../_base_/models/upernet_unireplknet.py',
    '../_base_/datasets/ade20k_640x640.py',
    '../_base_/schedules/schedule_adamw-lrd_poly_160k.py',
    '../_base_/default_runtime_seg.py',
]

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_s_in22k_to_in1k_384_acc86.44.pth'  # noqa
crop_size = (640, 640)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12, decay_rate=0.9,
                       decay_type='layer_wise'))
