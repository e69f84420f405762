# Copyright (c) mmunireplk contributors. All rights reserved.
"""Utilities: checkpoint conversion, safe checkpoint loading, launching."""
from .convert import (ConversionReport, drop_keys, infer_unireplknet_arch,
                      legacy_ema_key, make_checkpoint, read_legacy_checkpoint,
                      rename_keys, reparameterize_state_dict,
                      save_checkpoint_atomic, split_runner_checkpoint,
                      take_ema_weights, upgrade_legacy_meta)

__all__ = [
    'ConversionReport', 'drop_keys', 'infer_unireplknet_arch',
    'legacy_ema_key', 'make_checkpoint', 'read_legacy_checkpoint',
    'rename_keys', 'reparameterize_state_dict', 'save_checkpoint_atomic',
    'split_runner_checkpoint', 'take_ema_weights', 'upgrade_legacy_meta'
]
