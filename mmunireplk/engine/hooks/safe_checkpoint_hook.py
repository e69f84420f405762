# Copyright (c) mmunireplk contributors. All rights reserved.
"""Checkpoints that load weights-only and resume exactly."""
from mmengine.hooks import Hook

from mmunireplk.checkpoint.runner_state import (RNG_STATE_KEY, get_rng_state,
                                                runner_state_to_plain,
                                                set_rng_state)
from mmunireplk.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Write runner checkpoints as plain data, with the RNG states.

    Before a checkpoint is saved (after every other hook, e.g. EMAHook),
    the message hub's ``HistoryBuffer`` scalars and numpy values are stored
    as plain data (:func:`~mmunireplk.checkpoint.runner_state_to_plain`),
    so the file loads weights-only; the loader registered by ``mmunireplk``
    turns them back into mmengine objects. The python, numpy and torch RNG
    states are stored too and restored on ``--resume``: mmengine re-seeds a
    resumed run from ``randomness.seed``, so random augmentation and RoI
    sampling would otherwise differ from the uninterrupted run. A
    deterministic run (``randomness=dict(seed=..., deterministic=True)``,
    data workers re-created every epoch or none) resumes bit-exactly.

    Our configs list it in ``custom_hooks`` (so mmdet's, mmseg's and
    mmpretrain's own tools use it) and ``tools/train.py`` adds it to any
    config.
    """
    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_STATE_KEY] = get_rng_state()
        runner_state_to_plain(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(RNG_STATE_KEY)
        if state is None or not runner._resume:  # only when resuming
            return
        set_rng_state(state)
        runner.logger.info('Restored the RNG states of the checkpoint')
