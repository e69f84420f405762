# Copyright (c) mmunireplk contributors. All rights reserved.
"""Checkpoints that load weights-only and resume exactly."""
from typing import List, Optional, Tuple

from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook

from mmunireplk.checkpoint.io import install_safe_loaders
from mmunireplk.checkpoint.runner_state import (RNG_STATE_KEY, get_rng_state,
                                                rank_rng_states,
                                                rng_state_of_rank,
                                                runner_state_to_plain,
                                                set_rng_state)
from mmunireplk.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Write runner checkpoints as plain data, with every process's RNG
    state, and read checkpoints weights-only.

    - Building it installs the weights-only loaders
      (:func:`~mmunireplk.checkpoint.install_safe_loaders`) for any tool
      that builds the config (ours and the upstream ones).
    - Before a save, the message hub and meta become plain data
      (:func:`~mmunireplk.checkpoint.runner_state_to_plain`).
    - Every process's RNG states are stored (gathered just before the
      CheckpointHook saves) and restored on ``--resume``: mmengine re-seeds
      a resumed run from ``randomness.seed``, so augmentation, drop path and
      RoI sampling would differ from the uninterrupted run. Another number
      of processes keeps the re-seeding (with a warning). Persistent data
      workers of an epoch-based run keep random streams a checkpoint does
      not hold.
    """
    # After EMAHook (NORMAL), which swaps in the EMA weights when saving,
    # and before CheckpointHook (VERY_LOW), which saves: the RNG states
    # must be gathered on every rank before rank 0 writes the file.
    priority = 'LOW'

    def __init__(self) -> None:
        install_safe_loaders()
        # every rank's state and the (epoch, iter) they were gathered at
        self._gathered: Optional[Tuple[tuple, List[dict]]] = None

    def _checkpoint_hook(self, runner) -> Optional[CheckpointHook]:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                return hook
        return None

    def _gather_rng_states(self, runner) -> None:
        """Collect every rank's RNG state (a collective: all ranks call it
        at the same point, only when a checkpoint may follow)."""
        _, world_size = get_dist_info()
        if world_size > 1:
            self._gathered = ((runner.epoch, runner.iter),
                              all_gather_object(get_rng_state()))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        hook = self._checkpoint_hook(runner)
        if hook is None or hook.by_epoch:
            return
        if hook.every_n_train_iters(runner, hook.interval, hook.save_begin) \
                or (hook.save_last and hook.is_last_train_iter(runner)):
            self._gather_rng_states(runner)

    def after_train_epoch(self, runner) -> None:
        hook = self._checkpoint_hook(runner)
        if hook is None or not hook.by_epoch:
            return
        if hook.every_n_epochs(runner, hook.interval, hook.save_begin) or (
                hook.save_last and hook.is_last_train_epoch(runner)):
            self._gather_rng_states(runner)

    def before_val_epoch(self, runner) -> None:
        hook = self._checkpoint_hook(runner)
        if hook is not None and hook.save_best is not None:
            self._gather_rng_states(runner)  # a best checkpoint may follow

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        _, world_size = get_dist_info()
        if world_size == 1:
            checkpoint[RNG_STATE_KEY] = rank_rng_states([get_rng_state()])
        elif self._gathered and self._gathered[0] == (runner.epoch,
                                                      runner.iter):
            checkpoint[RNG_STATE_KEY] = rank_rng_states(self._gathered[1])
        else:
            runner.logger.warning(
                'Saving a checkpoint without the RNG states of the other '
                'processes (saved outside the CheckpointHook): a resume '
                'from it is re-seeded from randomness.seed')
        runner_state_to_plain(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        entry = checkpoint.get(RNG_STATE_KEY)
        if entry is None or not runner._resume:  # only when resuming
            return
        rank, world_size = get_dist_info()
        state, reason = rng_state_of_rank(entry, rank, world_size)
        if state is None:
            runner.logger.warning(
                f'RNG states not restored ({reason}): the resumed run is '
                'seeded from randomness.seed and will not repeat the random '
                'draws of an uninterrupted run')
            return
        set_rng_state(state)
        runner.logger.info('Restored the RNG states of the checkpoint')
