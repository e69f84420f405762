# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading, writing, converting and loading UniRepLKNet checkpoints."""
from .convert import (ConversionReport, convert_file,
                      convert_mmdet2_checkpoint, convert_mmseg0x_checkpoint,
                      legacy_ema_key, make_checkpoint,
                      reparameterize_checkpoint, upgrade_legacy_meta)
from mmunireplk.models.pretrained import (SAFE_GLOBALS, TRUST_ENV,
                                          UnsafeCheckpointError,
                                          unwrap_state_dict)
from .io import (ATOMIC_BACKEND, AtomicLocalBackend, add_trust_argument,
                 install_safe_loaders, load_checkpoint_file,
                 load_url_checkpoint, read_checkpoint,
                 register_atomic_backend, save_checkpoint_atomic,
                 set_trust_env)
from .imagenet import convert_imagenet_checkpoint, is_public_imagenet_layout
from .runner_state import restore_runner_state, runner_state_to_plain
from .state_dict import StateDictMismatchError, load_strict

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'ConversionReport',
    'SAFE_GLOBALS', 'TRUST_ENV', 'UnsafeCheckpointError', 'add_trust_argument',
    'convert_file', 'convert_mmdet2_checkpoint',
    'convert_imagenet_checkpoint', 'convert_mmseg0x_checkpoint',
    'StateDictMismatchError', 'is_public_imagenet_layout',
    'legacy_ema_key', 'load_checkpoint_file',
    'load_strict', 'load_url_checkpoint',
    'install_safe_loaders', 'make_checkpoint', 'read_checkpoint',
    'register_atomic_backend',
    'reparameterize_checkpoint', 'restore_runner_state',
    'runner_state_to_plain', 'save_checkpoint_atomic', 'set_trust_env',
    'unwrap_state_dict', 'upgrade_legacy_meta'
]
