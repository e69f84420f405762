# Copyright (c) mmunireplk contributors. All rights reserved.
"""Save and restore random-number-generator states with checkpoints."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from mmunireplk.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store the python, numpy and torch RNG states in each checkpoint and
    restore them when the run is resumed.

    mmengine re-seeds a resumed run from ``randomness.seed``, so random data
    augmentation and RoI sampling after ``--resume`` differ from the
    uninterrupted run. With this hook (``tools/train.py`` adds it) a
    deterministic run (``randomness=dict(seed=..., deterministic=True)``,
    data workers re-created every epoch or none) resumes bit-exactly.
    Checkpoints without the states resume as before.
    """
    priority = 'VERY_LOW'
    KEY = 'rng_state'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint[self.KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state: Optional[dict] = checkpoint.get(self.KEY)
        if state is None or not runner._resume:  # only when resuming
            return
        random.setstate(state['python'])
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])
        runner.logger.info('Restored the RNG states of the checkpoint')
