# Template: fine-tune the public ImageNet-1K UniRepLKNet-T on your own
# ImageFolder dataset (docs/classification.md, "Fine-tuning on your data").
#
#   data/custom_dataset/train/<class_name>/xxx.jpg
#   data/custom_dataset/val/<class_name>/yyy.jpg
#
# Set num_classes (and optionally classes) below, then
#   python tools/train.py \
#       configs/unireplknet/unireplknet-t_in1k-pre_8xb32-ft_custom.py
# It follows the reference's fine-tuning recipe (layer-wise lr decay 0.8,
# head_init_scale 1e-3, no mixup/cutmix, cosine without warm-up) at 224;
# lr 5e-5 is for a total batch of 512 (`--auto-scale-lr` rescales it to
# yours). Other sizes: change arch / in_channels / checkpoint_file /
# num_layers as in the comments.
_base_ = './unireplknet-t_32xb128_in1k.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
# Starting point: the public IN-1K file (backbone and the head's `norm`; the
# 1000-way Linear does not fit and starts fresh). Override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
# model.head.init_cfg.checkpoint=PATH
pretrained_file = hf_root + 'unireplknet_t_in1k_224_acc83.21.pth'
checkpoint_file = pretrained_file

num_classes = 10  # <- the number of class folders
data_root = 'data/custom_dataset'

data_preprocessor = dict(num_classes=num_classes)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_file)),
    head=dict(
        num_classes=num_classes,
        head_init_scale=1e-3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=pretrained_file,
            reinit_mismatched_head=True)),
    train_cfg=None)

dataset = dict(
    _delete_=True,
    type='CustomDataset',
    data_root=data_root,
    with_label=True)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        **dataset, data_prefix='train',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(
        **dataset, data_prefix='val', pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
# top-5 needs at least 5 classes
val_evaluator = dict(type='Accuracy', topk=(1, 5) if num_classes >= 5 else 1)
test_evaluator = val_evaluator

# num_layers fits the stage-3 depth: stage-3 block j has layer id 3 + j // 3,
# T has 18 blocks -> ids 3..8, stage 4 -> 9 (S/B/L/XL: 12; A/F/P: 5; N: 6).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=5e-5, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=1e-8),
    constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=9, decay_rate=0.8,
                       decay_type='layer_wise'))
auto_scale_lr = dict(base_batch_size=512)
max_epochs = 30
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
