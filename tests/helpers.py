# Copyright (c) mmunireplk contributors. All rights reserved.
"""Shared helpers of the test suite."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm


def randomize_bn_and_scales(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial statistics and affine parameters, and GRN /
    layer-scale parameters non-zero values, so re-parameterisation tests
    exercise every folded term."""
    gen = torch.Generator().manual_seed(seed)

    def rand_like(t, low, high):
        return torch.rand(t.shape, generator=gen) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                module.running_mean.copy_(rand_like(module.running_mean, -.5, .5))
                module.running_var.copy_(rand_like(module.running_var, .5, 2.))
                module.weight.copy_(rand_like(module.weight, .5, 1.5))
                module.bias.copy_(rand_like(module.bias, -.5, .5))
        for name, param in model.named_parameters():
            if name.endswith(('act.1.gamma', 'act.1.beta')) or \
                    name.split('.')[-1] == 'gamma':
                param.copy_(rand_like(param, -.5, .5))
