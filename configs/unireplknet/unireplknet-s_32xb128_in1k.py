# UniRepLKNet-S (small), ImageNet-1K from scratch at 224, 300 epochs,
# 32 GPUs x 128 images. Public result: unireplknet_s_in1k_224_acc83.91.pth
# (top-1 83.91; paper: 56M / 9.1G FLOPs at 224).
_base_ = [
    '../_base_/models/image-classifier_unireplknet.py',
    '../_base_/datasets/imagenet_bs128_randaug_224.py',
    '../_base_/schedules/imagenet_bs4096_adamw_300e.py',
    '../_base_/default_runtime_cls.py',
]

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_s_in1k_224_acc83.91.pth'
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.4),
    head=dict(in_channels=768),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
