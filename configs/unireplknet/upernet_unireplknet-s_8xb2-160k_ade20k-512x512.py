# UPerNet + UniRepLKNet-S (ImageNet-1K), ADE20K 512x512, 160k iterations.
# Published: mIoU 50.5 / 51.0 (ss / ms), 86M params, 1036G FLOPs.
_base_ = './upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_s_in1k_224_acc83.91.pth'  # noqa
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12, decay_rate=0.9,
                       decay_type='layer_wise'))
