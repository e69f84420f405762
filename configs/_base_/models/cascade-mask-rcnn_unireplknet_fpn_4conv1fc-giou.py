# Cascade Mask R-CNN with a UniRepLKNet backbone and an FPN (mmdet's
# ResNet-50 model with the backbone replaced), three cascade stages with
# 4conv1fc GIoU box heads and a 4-conv FCN mask head. The values are those
# of UniRepLKNet-T; each config of configs/unireplknet/ sets its arch, drop
# path, pretrained file and FPN input widths.
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'

# One cascade stage's bbox head: 4 shared convs + 1 fc (4conv1fc) with SyncBN
# (tools/train.py turns it into BN when no GPU is available), class-aware
# regression of decoded boxes with a GIoU loss. Stages differ in target_stds.
bbox_head_4conv1fc = dict(
    type='ConvFCBBoxHead',
    num_shared_convs=4,
    num_shared_fcs=1,
    in_channels=256,
    conv_out_channels=256,
    fc_out_channels=1024,
    roi_feat_size=7,
    num_classes=80,
    reg_class_agnostic=False,
    reg_decoded_bbox=True,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmunireplk.UniRepLKNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        layer_scale_init_value=1e-6,
        # gradient checkpointing of every block: training memory
        with_cp=True,
        use_sync_bn=True,
        # True builds the re-parameterised backbone, e.g. to test a
        # checkpoint converted by
        # tools/model_converters/unireplknet_reparameterize.py (see the
        # configs in configs/unireplknet/deploy/)
        deploy=False),
    neck=dict(in_channels=[80, 160, 320, 640]),
    roi_head=dict(
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_head=[
            dict(
                bbox_head_4conv1fc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.1, 0.1, 0.2, 0.2])),
            dict(
                bbox_head_4conv1fc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.05, 0.05, 0.1, 0.1])),
            dict(
                bbox_head_4conv1fc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=[0.033, 0.033, 0.067, 0.067])),
        ],
        mask_head=dict(num_convs=4)))
