# UniRepLKNet-N (nano), ImageNet-1K from scratch at 224, 300 epochs,
# 32 GPUs x 128 images. Public result: unireplknet_n_in1k_224_acc81.64.pth
# (top-1 81.64; paper: 18.3M / 2.8G FLOPs at 224).
_base_ = './unireplknet-t_32xb128_in1k.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_n_in1k_224_acc81.64.pth'  # noqa
model = dict(
    backbone=dict(arch='nano', drop_path_rate=0.1),
    head=dict(in_channels=640),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.5),
        dict(type='CutMix', alpha=0.5),
    ]))
