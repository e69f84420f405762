# UniRepLKNet-S, ImageNet-22K pretraining (21841 classes) at 224, 90 epochs,
# 32 GPUs x 128 images (total batch 4096), no evaluation. Public result:
# unireplknet_s_in22k_pretrain.pth. This file holds the 22K pretraining
# recipe shared by the S/B/L/XL configs; the augmentation, optimiser,
# weight decay and label smoothing are those of the 1K recipe.
_base_ = './unireplknet-s_32xb128_in1k.py'

hf_root = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
checkpoint_file = hf_root + 'unireplknet_s_in22k_pretrain.pth'

num_classes = 21841
data_preprocessor = dict(num_classes=num_classes)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.1),
    head=dict(num_classes=num_classes))

train_dataloader = dict(
    dataset=dict(
        type='ImageNet21k', data_root='data/imagenet21k', split='train'))
# No validation / test split: the reference does not evaluate 22K models.
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

# lr 4e-3 at total batch 4096, 90 epochs with 5 warm-up epochs.
optim_wrapper = dict(optimizer=dict(lr=4e-3))
max_epochs = 90
warmup_epochs = 5
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(_delete_=True, by_epoch=True, max_epochs=max_epochs)
