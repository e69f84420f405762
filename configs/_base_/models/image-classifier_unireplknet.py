# The reference classifier: UniRepLKNet -> last stage -> global average pool
# -> LayerNorm `norm` (eps 1e-6) -> Linear `head`, trained with label
# smoothing 0.1 and mixup / cutmix. The values are those of UniRepLKNet-T on
# ImageNet-1K; each config of configs/unireplknet/ sets its arch, drop path,
# head width and mixup / cutmix.
num_classes = 1000

model = dict(
    type='ImageClassifier',
    # ImageNet mean / std of RGB in [0, 255]; images are loaded as BGR.
    data_preprocessor=dict(
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    # out_norm=False: the backbone returns the raw stage output (no
    # `norm3`), so the public files load one to one (backbone.* /
    # head.norm.* / head.head.*).
    backbone=dict(
        type='mmunireplk.UniRepLKNet',
        arch='tiny',
        out_indices=(3, ),
        out_norm=False,
        drop_path_rate=0.2,
        layer_scale_init_value=1e-6,
        # True builds the re-parameterised backbone (for checkpoints
        # converted by tools/model_converters/unireplknet_reparameterize.py;
        # see the configs in configs/unireplknet/deploy/)
        deploy=False),
    neck=None,
    head=dict(
        type='mmunireplk.UniRepLKNetClsHead',
        num_classes=num_classes,
        in_channels=640,
        head_init_scale=1.0,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original')),
    # timm Mixup(mixup_alpha, cutmix_alpha, prob 1.0, switch_prob 0.5): one
    # of the two, chosen uniformly, on every batch.
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
