# UPerNet + UniRepLKNet-T, ADE20K 512x512, 160k iterations, 8 GPUs x 2 images.
# Published: mIoU 48.6 (single scale) / 49.1 (multi-scale), 61M params,
# 946G FLOPs at 512x2048.
_base_ = [
    '../_base_/models/upernet_unireplknet.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_adamw-lrd_poly_160k.py',
    '../_base_/default_runtime_seg.py',
]

# ImageNet-1K checkpoint (public file name, Hugging Face repo
# DingXiaoH/UniRepLKNet); a local path works too.
checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_t_in1k_224_acc83.21.pth'  # noqa
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.2,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
# Layer-wise lr decay as published for T: rate 1.0 over 9 layers, i.e. none.
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=9, decay_rate=1.0,
                       decay_type='layer_wise'))
