_base_ = '../unireplknet-f_32xb128_in1k.py'

model = dict(backbone=dict(deploy=True))
