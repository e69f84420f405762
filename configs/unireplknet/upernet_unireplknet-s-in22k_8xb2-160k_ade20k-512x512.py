# UPerNet + UniRepLKNet-S (ImageNet-22K, fine-tuned on 1K at 384),
# ADE20K 512x512, 160k iterations.
# Published: mIoU 51.9 / 52.7 (ss / ms), 86M params, 1036G FLOPs.
_base_ = './upernet_unireplknet-s_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_s_in22k_to_in1k_384_acc86.44.pth'  # noqa
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)))
