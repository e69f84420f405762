# UniRepLKNet-L, ImageNet-22K pretraining at 192, 90 epochs, total batch
# 4096, lr 1e-3, drop path 0.1. Public result:
# unireplknet_l_in22k_pretrain.pth.
_base_ = './unireplknet-s_32xb128_in21k.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_l_in22k_pretrain.pth'
img_size = 192
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.1),
    head=dict(in_channels=1536))

# The recipe's augmentation with the crop at 192.
train_pipeline = [
    dict(step, scale=img_size) if step['type'] == 'RandomResizedCrop' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(lr=1e-3))  # at total batch 4096
