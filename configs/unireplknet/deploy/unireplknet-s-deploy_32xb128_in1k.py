_base_ = '../unireplknet-s_32xb128_in1k.py'

model = dict(backbone=dict(deploy=True))
