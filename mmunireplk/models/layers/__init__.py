# Copyright (c) mmunireplk contributors. All rights reserved.
from .unireplk_layers import (BLOCK_KERNELS, DRB_BRANCHES, GRN,
                              DeployBlockWeights, DilatedReparamBlock,
                              LayerNorm2d, SEBlock, UniRepLKNetBlock, build_bn,
                              dilated_to_dense_kernel, fuse_bn)

__all__ = [
    'BLOCK_KERNELS', 'DRB_BRANCHES', 'GRN', 'DeployBlockWeights',
    'DilatedReparamBlock', 'LayerNorm2d', 'SEBlock', 'UniRepLKNetBlock',
    'build_bn', 'dilated_to_dense_kernel', 'fuse_bn'
]
