# UniRepLKNet-XL, ImageNet-22K pretrained -> ImageNet-1K fine-tuned at 384,
# 20 epochs, total batch 512, label smoothing 0.3, EMA of the weights (decay
# 0.9999) used for evaluation (the L recipe). Public result:
# unireplknet_xl_in22k_to_in1k_384_acc87.96.pth (top-1 87.96, 386M params,
# 187G FLOPs at 384).
_base_ = './unireplknet-l_in21k-pre_8xb64_in1k-384px.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
pretrained_file = hf_root + 'unireplknet_xl_in22k_pretrain.pth'
checkpoint_file = hf_root + 'unireplknet_xl_in22k_to_in1k_384_acc87.96.pth'
model = dict(
    backbone=dict(
        arch='xlarge', init_cfg=dict(checkpoint=pretrained_file)),
    head=dict(in_channels=2048, init_cfg=dict(checkpoint=pretrained_file)))
