# mmpretrain's runtime with the mmunireplk modules registered
# (mmunireplk.cls: the classifier head and the public-file hook), a
# checkpoint per epoch (the last 3 kept), and two hooks:
# - ImageNetCheckpointHook accepts the public ImageNet files wherever a
#   checkpoint is loaded (load_from, tools/test.py): layout detected, mapped
#   in memory, logged;
# - SafeCheckpointHook writes checkpoints as plain data (they load
#   weights-only) with the RNG states (--resume is exact).
# Both are kept by mmpretrain's own tools too.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(
    imports=['mmunireplk', 'mmunireplk.cls'], allow_failed_imports=False)
custom_hooks = [
    dict(type='mmunireplk.ImageNetCheckpointHook'),
    dict(type='mmunireplk.SafeCheckpointHook'),
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
