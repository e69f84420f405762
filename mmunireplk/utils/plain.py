# Copyright (c) mmunireplk contributors. All rights reserved.
"""Conversion of values into built-in Python types (for JSON and meta)."""
from typing import Any


def to_builtin(value: Any) -> Any:
    """Turn numpy / torch scalars into numbers, arrays and tuples into
    lists and dict keys into strings, recursively (JSON-serialisable, and
    loadable weights-only when saved in a checkpoint)."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, 'item') and getattr(value, 'ndim', 0) == 0:
        return value.item()
    if hasattr(value, 'tolist'):
        return value.tolist()
    return value
