_base_ = '../unireplknet-n_32xb128_in1k.py'

model = dict(backbone=dict(deploy=True))
