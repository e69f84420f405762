_base_ = '../unireplknet-s_in21k-pre_8xb64_in1k-384px.py'

model = dict(backbone=dict(deploy=True))
