# UniRepLKNet-B, ImageNet-22K pretraining at 224, 90 epochs, total batch
# 4096, drop path 0.1. Public result: unireplknet_b_in22k_pretrain.pth.
_base_ = './unireplknet-s_32xb128_in21k.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_b_in22k_pretrain.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.1),
    head=dict(in_channels=1024))
