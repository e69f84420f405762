# Copyright (c) mmunireplk contributors. All rights reserved.
"""Deploy-time tools: the fastest inference form and the opt-in CPU
kernels. Nothing here is imported by ``import mmunireplk``."""
from .cpu_kernels import (KERNEL_CANDIDATES, CPUKernels, KernelBlock,
                          KernelChooser, KernelConv2d, attach_cpu_kernels,
                          detach_cpu_kernels, kernel_available)
from .inference_form import (CPU_COMPILE_OPTIONS, cpu_kernels_of,
                             prepare_for_inference)

__all__ = [
    'CPU_COMPILE_OPTIONS', 'CPUKernels', 'KERNEL_CANDIDATES', 'KernelBlock',
    'KernelChooser', 'KernelConv2d', 'attach_cpu_kernels', 'cpu_kernels_of',
    'detach_cpu_kernels', 'kernel_available', 'prepare_for_inference'
]
