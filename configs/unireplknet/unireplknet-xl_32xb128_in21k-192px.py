# UniRepLKNet-XL, ImageNet-22K pretraining at 192, 90 epochs, total batch
# 4096, lr 1e-3, drop path 0.2 (the L recipe otherwise). Public result:
# unireplknet_xl_in22k_pretrain.pth.
_base_ = './unireplknet-l_32xb128_in21k-192px.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_xl_in22k_pretrain.pth'
model = dict(
    backbone=dict(arch='xlarge', drop_path_rate=0.2),
    head=dict(in_channels=2048))
