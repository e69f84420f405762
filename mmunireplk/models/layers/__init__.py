# Copyright (c) mmunireplk contributors. All rights reserved.
from .cpu_inference import cpu_fast_path
from .unireplk_layers import (BLOCK_KERNELS, DRB_BRANCHES, GRN,
                              DilatedReparamBlock, LayerNorm2d, SEBlock,
                              UniRepLKNetBlock, build_bn,
                              dilated_to_dense_kernel, fuse_bn)

__all__ = [
    'BLOCK_KERNELS', 'DRB_BRANCHES', 'GRN', 'DilatedReparamBlock',
    'LayerNorm2d', 'cpu_fast_path', 'SEBlock', 'UniRepLKNetBlock', 'build_bn',
    'dilated_to_dense_kernel', 'fuse_bn'
]
