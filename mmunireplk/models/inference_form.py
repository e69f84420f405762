# Copyright (c) mmunireplk contributors. All rights reserved.
"""The fastest inference form of a model with UniRepLKNet backbones."""
import logging

import torch.nn as nn
from mmengine.logging import print_log

from .backbones import UniRepLKNet


def prepare_for_inference(model: nn.Module,
                          compile: bool = False,
                          **compile_kwargs) -> nn.Module:
    """Turn a model into its fastest inference form, in place.

    Puts ``model`` in eval mode, re-parameterises every UniRepLKNet inside it
    (``switch_to_deploy()``, exact to fp32 rounding) and stops gradients of
    its parameters, so that float32 CPU inference takes the fast deploy path
    (:mod:`mmunireplk.models.layers.cpu_inference`). Works for a bare
    backbone and for mmdet / mmseg / mmpretrain models alike.

    Args:
        model (nn.Module): A UniRepLKNet or a model containing one.
        compile (bool): Also ``torch.compile`` every UniRepLKNet (inductor,
            with ``torch._inductor.config.freezing`` switched on process-wide
            as PyTorch recommends for CPU inference). On CPU each deploy
            block is then one call of the fast path (the
            ``mmunireplk::deploy_block_cpu`` op, with its measured kernel
            choices) and inductor compiles the stem, downsampling layers and
            output norms around them (docs/speed.md). Opt-in. Defaults to
            False.
        **compile_kwargs: Passed to ``nn.Module.compile``. On CPU the
            defaults are ``options={'layout_optimization': False}`` (inductor
            would otherwise move the convolutions to channels-last memory,
            where the large depthwise kernels ran much slower, see
            docs/speed.md) and ``dynamic=False`` (one compilation per input
            size: with dynamic shapes that layout setting failed in torch
            2.12's inductor at the second input size).

    Returns:
        nn.Module: ``model`` itself.

    Raises:
        ValueError: If ``model`` contains no UniRepLKNet.
    """
    backbones = [m for m in model.modules() if isinstance(m, UniRepLKNet)]
    if not backbones:
        raise ValueError(f'{type(model).__name__} contains no UniRepLKNet '
                         'to re-parameterise')
    model.eval()
    for backbone in backbones:
        backbone.switch_to_deploy()
    for param in model.parameters():
        param.requires_grad_(False)
    if compile:
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
        print_log('torch.compile of the UniRepLKNet backbone(s); '
                  'torch._inductor.config.freezing set to True',
                  logger='current', level=logging.INFO)
        for backbone in backbones:
            kwargs = dict(compile_kwargs)
            if next(backbone.parameters()).device.type == 'cpu':
                kwargs.setdefault('options', {'layout_optimization': False})
                kwargs.setdefault('dynamic', False)
            backbone.compile(**kwargs)
    return model
