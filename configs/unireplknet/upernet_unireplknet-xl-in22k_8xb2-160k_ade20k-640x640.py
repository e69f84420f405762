# UPerNet + UniRepLKNet-XL (ImageNet-22K), ADE20K 640x640, 160k iterations.
# Published: mIoU 55.2 / 55.6 (ss / ms), 425M params, 3420G FLOPs.
# The reference ships no XL segmentation config. Chosen here by the trend of
# the published ones (S 0.3, B 0.3, L 0.4: +0.1 per width step from B on,
# same depth) drop_path_rate=0.5; lr decay kept at L's 0.85 / 12 layers (all
# of S..XL have the same depth, and the detection recipe also keeps L's
# decay for XL). Not verified by training.
_base_ = './upernet_unireplknet-s-in22k_8xb2-160k_ade20k-640x640.py'

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_xl_in22k_to_in1k_384_acc87.96.pth'  # noqa
model = dict(
    backbone=dict(
        arch='xlarge',
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12, decay_rate=0.85,
                       decay_type='layer_wise'))
