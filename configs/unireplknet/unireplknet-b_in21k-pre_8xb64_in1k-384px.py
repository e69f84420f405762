# UniRepLKNet-B, ImageNet-22K pretrained -> ImageNet-1K fine-tuned at 384,
# 30 epochs, total batch 512. Public result:
# unireplknet_b_in22k_to_in1k_384_acc87.40.pth (top-1 87.40, 98M params,
# 47.2G FLOPs at 384).
_base_ = './unireplknet-s_in21k-pre_8xb64_in1k-384px.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
pretrained_file = hf_root + 'unireplknet_b_in22k_pretrain.pth'
checkpoint_file = hf_root + 'unireplknet_b_in22k_to_in1k_384_acc87.40.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_file)),
    head=dict(
        in_channels=1024,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=pretrained_file,
            reinit_mismatched_head=True)))
