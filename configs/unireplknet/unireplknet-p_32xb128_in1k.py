# UniRepLKNet-P (pico), ImageNet-1K from scratch at 224, 300 epochs,
# 32 GPUs x 128 images. Public result: unireplknet_p_in1k_224_acc80.23.pth
# (top-1 80.23; paper: 10.7M / 1.6G FLOPs at 224).
_base_ = './unireplknet-t_32xb128_in1k.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_p_in1k_224_acc80.23.pth'  # noqa
model = dict(
    backbone=dict(arch='pico', drop_path_rate=0.1),
    head=dict(in_channels=512),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.3),
        dict(type='CutMix', alpha=0.3),
    ]))
