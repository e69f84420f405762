# Copyright (c) mmunireplk contributors. All rights reserved.
"""Shared pieces of the classification tests: config paths, generated
checkpoints in the public ImageNet layout and an independent functional
implementation of the reference classifier."""
import os.path as osp
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import REPO

CONFIG_DIR = osp.join(REPO, 'configs', 'unireplknet')
DEMO_CONFIG = osp.join(REPO, 'configs', '_demo_', 'unireplknet-a_cls-demo.py')
HF = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'

# DilatedReparamBlock branches per kernel of the reference architecture:
# kernels, dilations.
DRB_BRANCHES = {
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    7: ((5, 3, 3), (1, 2, 3)),
    5: ((3, 3), (1, 2)),
}


def config_path(name: str) -> str:
    return osp.join(CONFIG_DIR, name)


@pytest.fixture
def mmpretrain_scope():
    """Register mmpretrain's modules and make it the default scope."""
    from mmengine.registry import DefaultScope
    from mmpretrain.utils import register_all_modules

    import mmunireplk.cls  # noqa: F401
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def make_public_checkpoint(arch: str = 'atto',
                           num_classes: int = 1000,
                           seed: int = 0) -> Dict[str, torch.Tensor]:
    """Random weights in the public ImageNet layout (un-prefixed backbone
    keys, ``norm.*``, ``head.*``), with random BN statistics and affine
    parameters, non-zero GRN gamma/beta and O(1) layer scales."""
    from mmunireplk.models import UniRepLKNet
    gen = torch.Generator().manual_seed(seed)

    def rand(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=gen)

    backbone = UniRepLKNet(arch=arch, out_indices=(3, ), out_norm=False)
    state = {}
    for key, value in backbone.state_dict().items():
        if key.endswith('num_batches_tracked'):
            state[key] = value.clone()
        elif key.endswith('running_var'):
            state[key] = rand(value.shape, 0.5, 2.0)
        elif key.endswith('running_mean'):
            state[key] = rand(value.shape, -0.2, 0.2)
        elif key.endswith('.gamma') and value.dim() == 1:  # layer scale
            state[key] = rand(value.shape, 0.2, 0.6)
        elif key.endswith(('act.1.gamma', 'act.1.beta')):  # GRN
            state[key] = rand(value.shape, -0.5, 0.5)
        elif value.dim() == 1 and key.endswith('.weight'):  # norms
            state[key] = rand(value.shape, 0.6, 1.4)
        elif value.dim() == 1:  # biases
            state[key] = rand(value.shape, -0.1, 0.1)
        else:
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=gen) / fan_in**.5
    channels = backbone.dims[-1]
    state['norm.weight'] = rand((channels, ), 0.6, 1.4)
    state['norm.bias'] = rand((channels, ), -0.1, 0.1)
    state['head.weight'] = torch.randn((num_classes, channels),
                                       generator=gen) / channels**.5
    state['head.bias'] = rand((num_classes, ), -0.1, 0.1)
    return state


def _ln2d(x, sd, p):
    x = x.permute(0, 2, 3, 1)
    x = F.layer_norm(x, (x.shape[-1], ), sd[p + 'weight'], sd[p + 'bias'],
                     1e-6)
    return x.permute(0, 3, 1, 2)


def _bn(x, sd, p):
    return F.batch_norm(x, sd[p + 'running_mean'], sd[p + 'running_var'],
                        sd[p + 'weight'], sd[p + 'bias'], False, 0., 1e-5)


def _block(x, sd, p):
    channels = x.shape[1]
    if p + 'dwconv.lk_origin.weight' in sd:
        weight = sd[p + 'dwconv.lk_origin.weight']
        size = weight.shape[-1]
        y = _bn(F.conv2d(x, weight, padding=size // 2, groups=channels), sd,
                p + 'dwconv.origin_bn.')
        for k, r in zip(*DRB_BRANCHES[size]):
            weight = sd[f'{p}dwconv.dil_conv_k{k}_{r}.weight']
            y = y + _bn(
                F.conv2d(x, weight, padding=(r * (k - 1) + 1) // 2,
                         dilation=r, groups=channels), sd,
                f'{p}dwconv.dil_bn_k{k}_{r}.')
    else:
        weight = sd[p + 'dwconv.weight']
        y = F.conv2d(x, weight, padding=weight.shape[-1] // 2,
                     groups=channels)
    y = _bn(y, sd, p + 'norm.')
    s = y.mean((2, 3), keepdim=True)
    s = F.relu(F.conv2d(s, sd[p + 'se.down.weight'], sd[p + 'se.down.bias']))
    s = torch.sigmoid(
        F.conv2d(s, sd[p + 'se.up.weight'], sd[p + 'se.up.bias']))
    y = (y * s).permute(0, 2, 3, 1)
    y = F.gelu(F.linear(y, sd[p + 'pwconv1.1.weight'],
                        sd[p + 'pwconv1.1.bias']))
    gx = y.pow(2).sum((1, 2), keepdim=True).sqrt()
    nx = gx / (gx.mean(-1, keepdim=True) + 1e-6)
    y = (sd[p + 'act.1.gamma'] * nx + 1) * y + sd[p + 'act.1.beta']
    y = F.linear(y, sd[p + 'pwconv2.0.weight']).permute(0, 3, 1, 2)
    y = _bn(y, sd, p + 'pwconv2.2.')
    return x + y * sd[p + 'gamma'].view(1, -1, 1, 1)


def reference_logits(sd: Dict[str, torch.Tensor], x: torch.Tensor,
                     depths: Tuple[int, ...]) -> torch.Tensor:
    """The reference UniRepLKNet classifier in plain functional ops on a
    public-layout state dict (eval mode)."""
    d = 'downsample_layers.'
    x = F.conv2d(x, sd[d + '0.0.weight'], sd[d + '0.0.bias'], 2, 1)
    x = F.gelu(_ln2d(x, sd, d + '0.1.'))
    x = F.conv2d(x, sd[d + '0.3.weight'], sd[d + '0.3.bias'], 2, 1)
    x = _ln2d(x, sd, d + '0.4.')
    for i, depth in enumerate(depths):
        if i > 0:
            x = F.conv2d(x, sd[f'{d}{i}.0.weight'], sd[f'{d}{i}.0.bias'], 2, 1)
            x = _ln2d(x, sd, f'{d}{i}.1.')
        for j in range(depth):
            x = _block(x, sd, f'stages.{i}.{j}.')
    feat = x.mean((2, 3))
    feat = F.layer_norm(feat, (feat.shape[-1], ), sd['norm.weight'],
                        sd['norm.bias'], 1e-6)
    return F.linear(feat, sd['head.weight'], sd['head.bias'])


def build_classifier(cfg, device: str = 'cpu'):
    """``cfg.model`` without any pretrained loading, as get_model builds."""
    from mmpretrain.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.backbone['init_cfg'] = None
    model_cfg.head['init_cfg'] = None
    with torch.device(device):
        return MODELS.build(model_cfg)


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.double() - expected.double()).abs().max() /
                 expected.double().abs().max())


def list_configs(pattern: str) -> List[str]:
    import glob
    return sorted(glob.glob(osp.join(CONFIG_DIR, pattern)))
