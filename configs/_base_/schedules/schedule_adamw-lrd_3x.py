# The UniRepLKNet detection schedule: AdamW with layer-wise lr decay
# (ConvNeXt-style layer ids, 12 layers, rate 0.8 as published for T and S),
# no weight decay for 1-D parameters and biases, no gradient clipping, fp32;
# 3x = 36 epochs, linear warm-up over 500 iterations from 0.001 x lr, lr x0.1
# after epochs 27 and 33. lr 1e-4 is for 16 images per iteration.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=12, decay_rate=0.8, decay_type='layer_wise'))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
