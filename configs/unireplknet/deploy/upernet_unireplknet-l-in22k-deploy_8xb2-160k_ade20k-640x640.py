_base_ = '../upernet_unireplknet-l-in22k_8xb2-160k_ade20k-640x640.py'

model = dict(backbone=dict(deploy=True))
