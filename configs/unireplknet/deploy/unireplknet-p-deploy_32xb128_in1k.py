_base_ = '../unireplknet-p_32xb128_in1k.py'

model = dict(backbone=dict(deploy=True))
