# The UniRepLKNet segmentation schedule: AdamW (lr 1e-4 for 16 images per
# iteration) with layer-wise lr decay (the configs set the rate; 9 layers
# and 1.0, i.e. no decay, are T's), 160k iterations, validation and a
# checkpoint every 16k.
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=9, decay_rate=1.0, decay_type='layer_wise'))
# Linear warm-up over 1500 iterations from 1e-6 x lr, multiplied by a poly
# decay (power 1) to 0 over the 160k iterations; both schedulers start at 0,
# which reproduces the reference's mmcv 1.x `poly` policy with linear
# warm-up exactly: lr(t) = 1e-4 * (1e-6 + (1 - 1e-6) * min(t, 1500) / 1500)
# * (1 - t / 160000). (mmengine schedulers reach their final value at
# `end - 1`, hence 1501 and 160001.)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1501),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=0,
        end=160001),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000,
                 val_interval=16000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000))
auto_scale_lr = dict(enable=False, base_batch_size=16)
