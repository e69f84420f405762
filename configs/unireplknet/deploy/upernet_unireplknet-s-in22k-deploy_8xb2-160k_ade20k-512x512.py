_base_ = '../upernet_unireplknet-s-in22k_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(deploy=True))
