# Copyright (c) mmunireplk contributors. All rights reserved.
from .unireplknet import UniRepLKNet

__all__ = ['UniRepLKNet']
