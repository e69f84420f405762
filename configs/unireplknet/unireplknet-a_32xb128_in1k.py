# UniRepLKNet-A (atto), ImageNet-1K from scratch at 224, 300 epochs,
# 32 GPUs x 128 images. Public result: unireplknet_a_in1k_224_acc77.03.pth
# (top-1 77.03; paper: 4.4M / 0.6G FLOPs at 224).
_base_ = [
    '../_base_/models/image-classifier_unireplknet.py',
    '../_base_/datasets/imagenet_bs128_randaug_224.py',
    '../_base_/schedules/imagenet_bs4096_adamw_300e.py',
    '../_base_/default_runtime_cls.py',
]

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_a_in1k_224_acc77.03.pth'
model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.0),
    head=dict(in_channels=320),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.3),
        dict(type='CutMix', alpha=0.3),
    ]))
