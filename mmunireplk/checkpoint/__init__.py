# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading, writing, converting and loading UniRepLKNet checkpoints.

- :mod:`.io`: weights-only reading with a minimal allow-list and an
  explicit opt-in (:func:`load_checkpoint_file`), atomic writing, and the
  hook-up with mmengine's checkpoint loader (:func:`install_safe_loaders`).
- :mod:`.runner_state`: mmengine runner state as plain data and back.
- :mod:`.state_dict`: finding and loading the backbone weights, and the one
  strict-load check (:func:`load_strict`).
- :mod:`.convert`: converters per source format and :func:`convert_file`;
  :mod:`.imagenet`: the public ImageNet files and mmpretrain's layout.
"""
from .convert import (ConversionReport, convert_file,
                      convert_mmdet2_checkpoint, convert_mmseg0x_checkpoint,
                      legacy_ema_key, make_checkpoint,
                      reparameterize_checkpoint, upgrade_legacy_meta)
from .io import (ATOMIC_BACKEND, SAFE_GLOBALS, TRUST_ENV, AtomicLocalBackend,
                 UnsafeCheckpointError, add_trust_argument,
                 load_checkpoint_file,
                 install_safe_loaders, load_url_checkpoint, read_checkpoint,
                 register_atomic_backend,
                 save_checkpoint_atomic, set_trust_env)
from .imagenet import convert_imagenet_checkpoint, is_public_imagenet_layout
from .runner_state import restore_runner_state, runner_state_to_plain
from .state_dict import (extract_backbone_state_dict,
                         load_backbone_state_dict, load_pretrained_backbone,
                         load_strict, unwrap_state_dict)

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'ConversionReport',
    'SAFE_GLOBALS', 'TRUST_ENV', 'UnsafeCheckpointError', 'add_trust_argument',
    'convert_file', 'convert_mmdet2_checkpoint',
    'convert_imagenet_checkpoint', 'convert_mmseg0x_checkpoint',
    'extract_backbone_state_dict', 'is_public_imagenet_layout',
    'legacy_ema_key', 'load_backbone_state_dict', 'load_checkpoint_file',
    'load_pretrained_backbone', 'load_strict', 'load_url_checkpoint',
    'install_safe_loaders', 'make_checkpoint', 'read_checkpoint',
    'register_atomic_backend',
    'reparameterize_checkpoint', 'restore_runner_state',
    'runner_state_to_plain', 'save_checkpoint_atomic', 'set_trust_env',
    'unwrap_state_dict', 'upgrade_legacy_meta'
]
