# The UniRepLKNet ImageNet-1K schedule: AdamW (eps 1e-8), lr 4e-3 at total
# batch 4096 (`--auto-scale-lr` scales it linearly to the real batch),
# weight decay 0.05 except for 1-D parameters and biases (norms, layer
# scale; GRN gamma/beta are 4-D and decay); 300 epochs: per-iteration
# linear warm-up over 20 epochs from ~0 (the reference starts at 0, which
# mmengine's LinearLR cannot), then cosine to an absolute 1e-6.
_base_ = 'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-3, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
auto_scale_lr = dict(base_batch_size=4096)

max_epochs = 300
warmup_epochs = 20
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
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
