# Copyright (c) mmunireplk contributors. All rights reserved.
"""The fastest inference form of a model with UniRepLKNet backbones."""
import logging
from typing import Optional

import torch.nn as nn
from mmengine.logging import print_log

from mmunireplk.models.backbones import UniRepLKNet
from .cpu_kernels import (CPUKernels, KernelBlock, attach_cpu_kernels,
                          detach_cpu_kernels)

#: Inductor options :func:`prepare_for_inference` compiles a CPU backbone
#: with (scoped to that compilation): ``freezing`` folds the weights into the
#: graph as PyTorch recommends for CPU inference; without
#: ``layout_optimization=False`` inductor would move the convolutions to
#: channels-last memory, where the large depthwise kernels ran much slower
#: (docs/speed.md).
CPU_COMPILE_OPTIONS = {'freezing': True, 'layout_optimization': False}


def prepare_for_inference(model: nn.Module,
                          cpu_kernels: Optional[bool] = None,
                          compile: bool = False,
                          **compile_kwargs) -> nn.Module:
    """Turn a model into its fastest inference form, in place.

    Puts ``model`` in eval mode, re-parameterises every UniRepLKNet inside it
    (``switch_to_deploy()``, exact to fp32 rounding) and stops gradients of
    its parameters. Works for a bare backbone and for mmdet / mmseg /
    mmpretrain models alike.

    Args:
        model (nn.Module): A UniRepLKNet or a model containing one.
        cpu_kernels (bool, optional): Attach the fused CPU kernels
            (:func:`~mmunireplk.deploy.cpu_kernels.attach_cpu_kernels`),
            which float32 CPU inference then runs; other devices and dtypes
            run the plain deploy form. False detaches kernels attached
            before. Defaults to ``not compile``.
        compile (bool): ``torch.compile`` every UniRepLKNet instead (the
            plain deploy form: the kernels are eager-only). On CPU the
            inductor options default to :data:`CPU_COMPILE_OPTIONS`, scoped
            to these compilations, and ``dynamic`` to False (one compilation
            per input size: with dynamic shapes that layout setting failed in
            torch 2.12's inductor at the second input size). With
            ``freezing`` the weights are constants of the compiled graph:
            prepare the model again after changing them. Defaults to False.
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
    """The :class:`CPUKernels` attached to ``model`` (its kernel choices,
    overrides and buffers), or None."""
    for module in model.modules():
        if isinstance(module, KernelBlock):
            return module.cpu_kernels
    return None
