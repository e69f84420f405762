# Copyright (c) mmunireplk contributors. All rights reserved.
"""Config helpers and built-in value conversion."""
from mmunireplk.checkpoint.runner_state import to_builtin
from .config import TASK_SCOPES, detect_task, sync_bn_to_bn

__all__ = ['TASK_SCOPES', 'detect_task', 'sync_bn_to_bn', 'to_builtin']
