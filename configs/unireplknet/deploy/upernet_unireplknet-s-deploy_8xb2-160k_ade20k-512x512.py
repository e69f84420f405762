_base_ = '../upernet_unireplknet-s_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(deploy=True))
