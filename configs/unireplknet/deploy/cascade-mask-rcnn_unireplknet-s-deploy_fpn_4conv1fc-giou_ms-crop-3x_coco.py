_base_ = '../cascade-mask-rcnn_unireplknet-s_fpn_4conv1fc-giou_ms-crop-3x_coco.py'  # noqa

model = dict(backbone=dict(deploy=True))
