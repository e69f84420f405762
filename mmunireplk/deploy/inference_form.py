# Copyright (c) mmunireplk contributors. All rights reserved.
"""The fastest inference form of a model with UniRepLKNet backbones."""
import logging
from typing import Optional

import torch.nn as nn
from mmengine.logging import print_log

from mmunireplk.models.backbones import UniRepLKNet
from .cpu_kernels import (CPUKernels, KernelBlock, attach_cpu_kernels,
                          detach_cpu_kernels)

#: Inductor options for a CPU backbone: ``freezing`` folds the weights into
#: the graph (PyTorch's advice for CPU inference); without
#: ``layout_optimization=False`` inductor moves the convolutions to
#: channels-last, where the large depthwise kernels ran much slower.
CPU_COMPILE_OPTIONS = {'freezing': True, 'layout_optimization': False}


def prepare_for_inference(model: nn.Module,
                          cpu_kernels: Optional[bool] = None,
                          compile: bool = False,
                          **compile_kwargs) -> nn.Module:
    """Turn a model into its fastest inference form, in place: eval mode,
    every UniRepLKNet re-parameterised (exact to fp32 rounding), gradients
    off.

    Args:
        model (nn.Module): A UniRepLKNet or a model containing one.
        cpu_kernels (bool, optional): Attach the fused CPU kernels (float32
            CPU inference runs them); False detaches them. Defaults to
            ``not compile``.
        compile (bool): ``torch.compile`` every UniRepLKNet instead. On CPU
            the options default to :data:`CPU_COMPILE_OPTIONS` and
            ``dynamic`` to False (with dynamic shapes that layout setting
            failed in torch 2.12's inductor at the second input size). With
            ``freezing``, prepare again after changing the weights.
            Defaults to False.
        **compile_kwargs: Passed to ``nn.Module.compile``.

    Returns:
        nn.Module: ``model`` itself.

    Raises:
        ValueError: If ``model`` contains no UniRepLKNet, or if both
            ``cpu_kernels`` and ``compile`` are asked for.
    """
    backbones = [m for m in model.modules() if isinstance(m, UniRepLKNet)]
    if not backbones:
        raise ValueError(f'{type(model).__name__} contains no UniRepLKNet '
                         'to re-parameterise')
    if cpu_kernels is None:
        cpu_kernels = not compile
    if cpu_kernels and compile:
        raise ValueError('cpu_kernels=True and compile=True exclude each '
                         'other: the CPU kernels run eagerly, a compiled '
                         'model runs the plain deploy form')
    model.eval()
    for backbone in backbones:
        backbone.switch_to_deploy()
    for param in model.parameters():
        param.requires_grad_(False)
    if cpu_kernels:
        attach_cpu_kernels(model)
    else:
        detach_cpu_kernels(model)
    if compile:
        print_log('torch.compile of the UniRepLKNet backbone(s)',
                  logger='current', level=logging.INFO)
        for backbone in backbones:
            kwargs = dict(compile_kwargs)
            if next(backbone.parameters()).device.type == 'cpu':
                kwargs['options'] = {
                    **CPU_COMPILE_OPTIONS,
                    **kwargs.get('options', {})
                }
                kwargs.setdefault('dynamic', False)
            backbone.compile(**kwargs)
    return model


def cpu_kernels_of(model: nn.Module) -> Optional[CPUKernels]:
    """The :class:`CPUKernels` attached to ``model``, or None."""
    for module in model.modules():
        if isinstance(module, KernelBlock):
            return module.cpu_kernels
    return None
