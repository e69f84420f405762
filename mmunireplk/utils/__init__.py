# Copyright (c) mmunireplk contributors. All rights reserved.
"""Utilities: config adjustments of the tools, built-in value conversion."""
from .plain import to_builtin

__all__ = ['to_builtin']
