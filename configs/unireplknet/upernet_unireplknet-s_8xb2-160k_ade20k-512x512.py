# UPerNet + UniRepLKNet-S (ImageNet-1K), ADE20K 512x512, 160k iterations.
# Published: mIoU 50.5 / 51.0 (ss / ms), 86M params, 1036G FLOPs.
_base_ = [
    '../_base_/models/upernet_unireplknet.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_adamw-lrd_poly_160k.py',
    '../_base_/default_runtime_seg.py',
]

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_s_in1k_224_acc83.91.pth'  # noqa
crop_size = (512, 512)
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
