# UPerNet + UniRepLKNet-F (femto, ImageNet-1K), ADE20K 512x512, 160k.
# Not published by the paper: the T recipe with this backbone; params / FLOPs
# measured in docs/classification.md ("Small models downstream").
_base_ = [
    '../_base_/models/upernet_unireplknet.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_adamw-lrd_poly_160k.py',
    '../_base_/default_runtime_seg.py',
]

checkpoint_file = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/unireplknet_f_in1k_224_acc78.58.pth'  # noqa
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# Drop path: T uses its ImageNet rate (0.2); femto trained with 0.0,
# kept at least 0.1 for the 160k-iteration schedule.
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='femto',
        drop_path_rate=0.1,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[48, 96, 192, 384]),
    auxiliary_head=dict(in_channels=192))
# Layer-wise lr decay: num_layers fits the depth (stage-3 block j has layer
# id 3 + j // 3, so femto's 6 stage-3 blocks take ids 3..4; stage 4 is
# 5). The published rate weakens as models shrink (L 0.85, S/B 0.9,
# T 1.0 = none), so the small models use T's 1.0: no decay. To try decay
# (e.g. S's 0.9), keep num_layers=5.
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=5, decay_rate=1.0,
                       decay_type='layer_wise'))
