# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading, writing, converting and loading UniRepLKNet checkpoints.

(Transitional: re-exports the current helpers under their final names
while the package is being assembled.)
"""
from mmunireplk.models.utils.checkpoint import (extract_backbone_state_dict,
                                                load_checkpoint_file,
                                                unwrap_state_dict)
from mmunireplk.utils.convert import ConversionReport, save_checkpoint_atomic

__all__ = [
    'ConversionReport', 'extract_backbone_state_dict', 'load_checkpoint_file',
    'save_checkpoint_atomic', 'unwrap_state_dict'
]
