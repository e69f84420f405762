# UniRepLKNet-T, ImageNet-1K from scratch at 224, 300 epochs, 32 GPUs x 128
# images (total batch 4096). Public result: unireplknet_t_in1k_224_acc83.21.pth
# (top-1 83.21, 31M params, 4.9G FLOPs).
#
#   python tools/train.py CONFIG                       # train (needs ImageNet)
#   python tools/test.py CONFIG unireplknet_t_in1k_224_acc83.21.pth
#       (the public file is detected and mapped in memory by
#       mmunireplk.ImageNetCheckpointHook; or convert it once with
#       tools/model_converters/unireplknet_to_mmpretrain.py)
#   configs/unireplknet/deploy/unireplknet-t-deploy_32xb128_in1k.py
#       the re-parameterised form (after
#       tools/model_converters/unireplknet_reparameterize.py)
_base_ = [
    '../_base_/models/image-classifier_unireplknet.py',
    '../_base_/datasets/imagenet_bs128_randaug_224.py',
    '../_base_/schedules/imagenet_bs4096_adamw_300e.py',
    '../_base_/default_runtime_cls.py',
]

# The public ImageNet file this config reproduces (Hugging Face repo
# DingXiaoH/UniRepLKNet). Training starts from scratch; to evaluate or to
# start from it, pass it (or a local copy) as tools/test.py CONFIG FILE or
# --cfg-options load_from=FILE (public layout accepted).
hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_t_in1k_224_acc83.21.pth'
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.2),
    head=dict(in_channels=640),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
