# Copyright (c) mmunireplk contributors. All rights reserved.
from .checkpoint import (checkpoint_form, extract_backbone_state_dict,
                         load_backbone_state_dict, load_checkpoint_file,
                         load_local_checkpoint,
                         load_pretrained_backbone, unwrap_state_dict)

__all__ = [
    'checkpoint_form', 'extract_backbone_state_dict',
    'load_backbone_state_dict', 'load_checkpoint_file',
    'load_local_checkpoint',
    'load_pretrained_backbone', 'unwrap_state_dict'
]
