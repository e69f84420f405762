_base_ = '../unireplknet-a_32xb128_in1k.py'

model = dict(backbone=dict(deploy=True))
