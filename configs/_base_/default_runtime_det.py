# mmdet's runtime with the mmunireplk modules registered, a checkpoint per
# epoch (the last 3 kept), and SafeCheckpointHook: checkpoints as plain data
# (they load weights-only) with the RNG states (--resume is exact); kept by
# mmdet's own tools too.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmunireplk'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
custom_hooks = [dict(type='mmunireplk.SafeCheckpointHook')]
