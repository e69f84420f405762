# mmseg's runtime with the mmunireplk modules registered (mmunireplk.seg:
# checked label loading, per-class IoU), the multi-scale test model, and
# SafeCheckpointHook: checkpoints as plain data (they load weights-only)
# with the RNG states (--resume is exact); kept by mmseg's own tools too.
_base_ = 'mmseg::_base_/default_runtime.py'

custom_imports = dict(
    imports=['mmunireplk', 'mmunireplk.seg'], allow_failed_imports=False)
tta_model = dict(type='SegTTAModel')
custom_hooks = [dict(type='mmunireplk.SafeCheckpointHook')]
