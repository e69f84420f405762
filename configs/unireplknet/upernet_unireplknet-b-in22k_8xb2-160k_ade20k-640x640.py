# UPerNet + UniRepLKNet-B (ImageNet-22K), ADE20K 640x640, 160k iterations.
# Published: mIoU 53.5 / 53.9 (ss / ms), 130M params, 1850G FLOPs.
_base_ = './upernet_unireplknet-s-in22k_8xb2-160k_ade20k-640x640.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_b_in22k_to_in1k_384_acc87.40.pth'  # noqa
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
