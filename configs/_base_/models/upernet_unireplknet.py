# UPerNet with a UniRepLKNet backbone (mmseg's ResNet-50 UPerNet with the
# backbone replaced) and an FCN auxiliary head on stage 3, SyncBN in the
# heads. The values are those of UniRepLKNet-T on ADE20K (150 classes); each
# config of configs/unireplknet/ sets its arch, drop path, checkpointing,
# pretrained file, head input widths and crop size.
_base_ = 'mmseg::_base_/models/upernet_r50.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmunireplk.UniRepLKNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        layer_scale_init_value=1e-6,
        with_cp=False,
        use_sync_bn=True),
    decode_head=dict(
        in_channels=[80, 160, 320, 640],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=320,
        in_index=2,
        channels=256,
        num_convs=1,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        loss_decode=dict(loss_weight=0.4)),
    test_cfg=dict(mode='whole'))
