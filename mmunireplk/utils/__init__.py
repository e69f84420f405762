# Copyright (c) mmunireplk contributors. All rights reserved.
"""Utilities of the tools: device checks and config adjustments
(:mod:`.runtime`), built-in value conversion."""
from mmunireplk.checkpoint.runner_state import to_builtin

__all__ = ['to_builtin']
