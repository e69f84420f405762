# UPerNet + UniRepLKNet-L (ImageNet-22K), ADE20K 640x640, 160k iterations.
# Published: mIoU 54.5 / 55.0 (ss / ms), 254M params, 2507G FLOPs.
_base_ = './upernet_unireplknet-s-in22k_8xb2-160k_ade20k-640x640.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_l_in22k_to_in1k_384_acc87.88.pth'  # noqa
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12, decay_rate=0.85,
                       decay_type='layer_wise'))
