# Copyright (c) mmunireplk contributors. All rights reserved.
"""Utilities: checkpoint conversion and safe checkpoint reading/writing.

Importing this package installs :func:`setup_checkpoint_io` (loading of
mmengine checkpoints under torch >= 2.6, atomic checkpoint backend).
"""
from .checkpoint_io import (ATOMIC_BACKEND, AtomicLocalBackend,
                            load_from_local_trusted, setup_checkpoint_io)
from .convert import (ConversionReport, drop_keys, infer_unireplknet_arch,
                      legacy_ema_key, make_checkpoint, read_legacy_checkpoint,
                      rename_keys, reparameterize_state_dict,
                      save_checkpoint_atomic, split_runner_checkpoint,
                      take_ema_weights, upgrade_legacy_meta)

setup_checkpoint_io()

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'ConversionReport', 'drop_keys',
    'infer_unireplknet_arch', 'legacy_ema_key', 'load_from_local_trusted',
    'make_checkpoint', 'read_legacy_checkpoint', 'rename_keys',
    'reparameterize_state_dict', 'save_checkpoint_atomic',
    'setup_checkpoint_io', 'split_runner_checkpoint', 'take_ema_weights',
    'upgrade_legacy_meta'
]
