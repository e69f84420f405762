# Copyright (c) mmunireplk contributors. All rights reserved.
"""Building blocks of UniRepLKNet and their structural re-parameterisation
(parameter names are those of the public checkpoints)."""
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import (ContextManager, Dict, Iterator, NamedTuple, Optional,
                    Tuple)

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import Tensor

# Kernel sizes and dilations of the parallel dilated branches of a
# DilatedReparamBlock, keyed by its large kernel size K.
DRB_BRANCHES: Dict[int, Tuple[Tuple[int, ...], Tuple[int, ...]]] = {
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    7: ((5, 3, 3), (1, 2, 3)),
    5: ((3, 3), (1, 2)),
}
# Blocks use a plain depthwise conv for these kernels, a DRB above them.
PLAIN_DW_KERNELS = (3, 5)
BLOCK_KERNELS = PLAIN_DW_KERNELS + tuple(k for k in sorted(DRB_BRANCHES)
                                         if k >= 7)


def build_bn(num_features: int, use_sync_bn: bool = False) -> nn.Module:
    """BatchNorm2d (eps 1e-5, momentum 0.1), or SyncBatchNorm if asked."""
    bn_type = nn.SyncBatchNorm if use_sync_bn else nn.BatchNorm2d
    return bn_type(num_features)


def fuse_bn(conv_weight: Tensor, conv_bias: Optional[Tensor],
            bn: nn.modules.batchnorm._BatchNorm) -> Tuple[Tensor, Tensor]:
    """Fold an eval-mode BN that follows a conv (weight (C_out, ...), bias
    or None) into the conv's weight and bias."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    bias = bn.bias - bn.running_mean * scale
    if conv_bias is not None:
        bias = bias + conv_bias * scale
    weight = conv_weight * scale.reshape(-1, *([1] * (conv_weight.dim() - 1)))
    return weight, bias


def dilated_to_dense_kernel(kernel: Tensor, dilation: int) -> Tensor:
    """The dense kernel (size ``r * (k - 1) + 1``, zeros between the taps)
    equal to a ``k x k`` kernel with dilation ``r``."""
    if dilation == 1:
        return kernel
    k_h, k_w = kernel.shape[-2:]
    dense = kernel.new_zeros(*kernel.shape[:-2], dilation * (k_h - 1) + 1,
                             dilation * (k_w - 1) + 1)
    dense[..., ::dilation, ::dilation] = kernel
    return dense


def pad_kernel_to(kernel: Tensor, size: int) -> Tensor:
    """Zero-pad a square kernel (centred) to ``size x size``."""
    pad = (size - kernel.shape[-1]) // 2
    if pad < 0:
        raise ValueError(f'cannot pad a {kernel.shape[-1]}x{kernel.shape[-1]} '
                         f'kernel to the smaller size {size}')
    return F.pad(kernel, [pad] * 4)


def depthwise_conv(channels: int,
                   kernel_size: int,
                   dilation: int = 1,
                   bias: bool = False) -> nn.Conv2d:
    """A stride-1 'same' depthwise conv."""
    return nn.Conv2d(
        channels,
        channels,
        kernel_size,
        stride=1,
        padding=(dilation * (kernel_size - 1) + 1) // 2,
        dilation=dilation,
        groups=channels,
        bias=bias)


@contextmanager
def keep_bn_statistics(module: nn.Module) -> Iterator[None]:
    """BN layers of ``module`` leave their running statistics and batch
    counts untouched inside the block.

    Activation checkpointing runs a block's forward again during backward;
    in train mode its BNs would update their statistics twice. Momentum 0
    keeps them (also for ``momentum=None``), the counts are restored after.
    """
    saved = [(bn, bn.momentum, bn.num_batches_tracked.clone())
             for bn in module.modules()
             if isinstance(bn, nn.modules.batchnorm._BatchNorm)
             and bn.training and bn.track_running_stats]
    for bn, _, _ in saved:
        bn.momentum = 0.
    try:
        yield
    finally:
        for bn, momentum, count in saved:
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(count)


def _recompute_contexts(module: nn.Module) -> Tuple[ContextManager, ...]:
    """Checkpoint contexts: BN statistics kept in the recomputation."""
    return nullcontext(), keep_bn_statistics(module)


class DropPath(nn.Module):
    """Stochastic depth: drop whole residual branches per sample."""

    def __init__(self, drop_prob: float = 0.) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0. or not self.training:
            return x
        keep_prob = 1 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1))
        mask.bernoulli_(keep_prob)
        return x * mask / keep_prob

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (eps 1e-6)."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class NCHWToNHWC(nn.Module):
    """Permute an NCHW tensor to NHWC."""

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 2, 3, 1)


class NHWCToNCHW(nn.Module):
    """Permute an NHWC tensor to NCHW."""

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalisation on NHWC tensors (ConvNeXt V2):
    ``y = (gamma * Nx + 1) * x + beta``, ``Gx`` the L2 norm of ``x`` over H
    and W, ``Nx = Gx / (mean_C(Gx) + 1e-6)``.

    Args:
        dim (int): Number of channels.
        use_bias (bool): Whether ``beta`` exists (the deploy form folds it
            into the next linear layer). Defaults to True.
    """

    def __init__(self, dim: int, use_bias: bool = True) -> None:
        super().__init__()
        self.use_bias = use_bias
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        if use_bias:
            self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def response_scale(self, x: Tensor) -> Tensor:
        """``gamma * Nx + 1``, (N, C), for a channels-last ``x`` (N, *, C)."""
        # sqrt(sum(x^2)), as the deploy kernels compute it. Half precision
        # (AMP) is reduced in fp32: x^2 summed over a large map overflows
        # fp16 and would turn the whole sample into NaN.
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return self.scale_from_squares(
            x.square().sum(dim=tuple(range(1, x.dim() - 1))), self.gamma)

    @staticmethod
    def scale_from_squares(sum_of_squares: Tensor, gamma: Tensor) -> Tensor:
        """``gamma * Nx + 1`` from per-channel sums of ``x ** 2`` (N, C)."""
        gx = sum_of_squares.sqrt()
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return gamma.reshape(1, -1) * nx + 1

    def forward(self, x: Tensor) -> Tensor:
        scale = self.response_scale(x).to(x.dtype)
        out = x * scale.view(x.shape[0], *([1] * (x.dim() - 2)), -1)
        if self.use_bias:
            out = out + self.beta
        return out


class SEBlock(nn.Module):
    """Squeeze-and-excitation with 1x1 convs ``down`` and ``up``."""

    def __init__(self, channels: int, internal_channels: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(channels, internal_channels, 1, bias=True)
        self.up = nn.Conv2d(internal_channels, channels, 1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.up(F.relu(self.down(w))))


class DilatedReparamBlock(nn.Module):
    """Large-kernel depthwise conv plus parallel dilated small-kernel convs:
    ``origin_bn(lk_origin(x)) + sum_b dil_bn_b(dil_conv_b(x))``, merged by
    :meth:`reparameterize` into one biased ``lk_origin`` (deploy form).

    Args:
        channels (int): Number of channels.
        kernel_size (int): The large kernel size K, one of 5, 7, ..., 17.
        deploy (bool): Build the merged deploy form. Defaults to False.
        use_sync_bn (bool): Use SyncBatchNorm. Defaults to False.
    """

    def __init__(self,
                 channels: int,
                 kernel_size: int,
                 deploy: bool = False,
                 use_sync_bn: bool = False) -> None:
        super().__init__()
        if kernel_size not in DRB_BRANCHES:
            raise ValueError(
                f'DilatedReparamBlock supports kernel sizes '
                f'{sorted(DRB_BRANCHES)} (the block needs K >= 5), '
                f'got {kernel_size}')
        self.kernel_size = kernel_size
        self.lk_origin = depthwise_conv(channels, kernel_size, bias=deploy)
        self.branch_kernels, self.branch_dilations = DRB_BRANCHES[kernel_size]
        if deploy:
            return
        self.origin_bn = build_bn(channels, use_sync_bn)
        for k, r in zip(self.branch_kernels, self.branch_dilations):
            self.add_module(f'dil_conv_k{k}_{r}',
                            depthwise_conv(channels, k, dilation=r))
            self.add_module(f'dil_bn_k{k}_{r}',
                            build_bn(channels, use_sync_bn))

    @property
    def deploy(self) -> bool:
        return not hasattr(self, 'origin_bn')

    def _branches(self):
        for k, r in zip(self.branch_kernels, self.branch_dilations):
            yield (getattr(self, f'dil_conv_k{k}_{r}'),
                   getattr(self, f'dil_bn_k{k}_{r}'), r)

    def forward(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.lk_origin(x)
        out = self.origin_bn(self.lk_origin(x))
        for conv, bn, _ in self._branches():
            out = out + bn(conv(x))
        return out

    def merged_kernel(self) -> Tuple[Tensor, Tensor]:
        """The single K x K depthwise kernel and bias equal to this block."""
        if self.deploy:
            return self.lk_origin.weight, self.lk_origin.bias
        weight, bias = fuse_bn(self.lk_origin.weight, None, self.origin_bn)
        for conv, bn, dilation in self._branches():
            branch_w, branch_b = fuse_bn(conv.weight, None, bn)
            dense = dilated_to_dense_kernel(branch_w, dilation)
            weight = weight + pad_kernel_to(dense, self.kernel_size)
            bias = bias + branch_b
        return weight, bias

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Convert in place to the deploy form (no-op if already there)."""
        if self.deploy:
            return
        weight, bias = self.merged_kernel()
        merged = depthwise_conv(
            weight.shape[0], self.kernel_size, bias=True).to(weight)
        merged.weight.copy_(weight)
        merged.bias.copy_(bias)
        self.lk_origin = merged
        del self.origin_bn
        for k, r in zip(self.branch_kernels, self.branch_dilations):
            delattr(self, f'dil_conv_k{k}_{r}')
            delattr(self, f'dil_bn_k{k}_{r}')


class DeployBlockWeights(NamedTuple):
    """The tensors of a deploy-form :class:`UniRepLKNetBlock`:
    ``x + fc2(g * GELU(fc1(s * dw(x))))``, SE gate ``s``, GRN scale ``g``."""
    dw_weight: Tensor  #: depthwise conv, (C, 1, K, K)
    dw_bias: Tensor  #: (C, )
    se_down_weight: Tensor  #: 1x1 conv, (C // 4, C, 1, 1)
    se_down_bias: Tensor
    se_up_weight: Tensor  #: 1x1 conv, (C, C // 4, 1, 1)
    se_up_bias: Tensor
    fc1_weight: Tensor  #: Linear, (4C, C)
    fc1_bias: Tensor
    grn_gamma: Tensor  #: (1, 1, 1, 4C)
    fc2_weight: Tensor  #: Linear, (C, 4C)
    fc2_bias: Tensor


class UniRepLKNetBlock(nn.Module):
    """The UniRepLKNet block:
    ``x + drop_path(gamma * pwconv2(act(pwconv1(se(norm(dwconv(x)))))))``.

    Args:
        dim (int): Number of channels.
        kernel_size (int): Depthwise kernel size: 3 or 5 for a plain
            depthwise conv, 7..17 (odd) for a DilatedReparamBlock.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        layer_scale_init_value (float, optional): Initial layer scale;
            None or 0 disables it. Defaults to 1e-6.
        deploy (bool): Build the re-parameterised form. Defaults to False.
        with_cp (bool): Use activation checkpointing. Defaults to False.
        use_sync_bn (bool): Use SyncBatchNorm. Defaults to False.
        ffn_ratio (int): Expansion of the pointwise FFN. Defaults to 4.
    """

    def __init__(self,
                 dim: int,
                 kernel_size: int,
                 drop_path: float = 0.,
                 layer_scale_init_value: Optional[float] = 1e-6,
                 deploy: bool = False,
                 with_cp: bool = False,
                 use_sync_bn: bool = False,
                 ffn_ratio: int = 4) -> None:
        super().__init__()
        if kernel_size not in BLOCK_KERNELS:
            raise ValueError(f'UniRepLKNet blocks support kernel sizes '
                             f'{BLOCK_KERNELS}, got {kernel_size}')
        self.with_cp = with_cp
        ffn_dim = ffn_ratio * dim
        if kernel_size in PLAIN_DW_KERNELS:
            self.dwconv = depthwise_conv(dim, kernel_size, bias=deploy)
        else:
            self.dwconv = DilatedReparamBlock(dim, kernel_size, deploy,
                                              use_sync_bn)
        self.norm = nn.Identity() if deploy else build_bn(dim, use_sync_bn)
        self.se = SEBlock(dim, dim // 4)
        self.pwconv1 = nn.Sequential(NCHWToNHWC(), nn.Linear(dim, ffn_dim))
        self.act = nn.Sequential(nn.GELU(), GRN(ffn_dim, use_bias=not deploy))
        if deploy:
            self.pwconv2 = nn.Sequential(
                nn.Linear(ffn_dim, dim, bias=True), NHWCToNCHW())
        else:
            self.pwconv2 = nn.Sequential(
                nn.Linear(ffn_dim, dim, bias=False), NHWCToNCHW(),
                build_bn(dim, use_sync_bn))
        use_layer_scale = (not deploy and layer_scale_init_value is not None
                           and layer_scale_init_value > 0)
        if use_layer_scale:
            self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        else:
            self.gamma = None
        self.drop_path = (
            DropPath(drop_path) if drop_path > 0 else nn.Identity())

    @property
    def deploy(self) -> bool:
        return isinstance(self.norm, nn.Identity)

    def _forward(self, x: Tensor) -> Tensor:
        y = self.se(self.norm(self.dwconv(x)))
        y = self.pwconv2(self.act(self.pwconv1(y)))
        if self.gamma is not None:
            y = y * self.gamma.view(1, -1, 1, 1)
        return x + self.drop_path(y)

    def forward(self, x: Tensor) -> Tensor:
        if not (self.with_cp and x.requires_grad):
            return self._forward(x)
        if torch.compiler.is_compiling():
            # A compiled graph applies the BN buffer updates once however
            # much of the forward it recomputes; dynamo's checkpoint takes no
            # context_fn but selective-checkpoint policies.
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        # The eager recomputation runs the block again during backward and
        # must not update the BN statistics a second time.
        return cp.checkpoint(
            self._forward,
            x,
            use_reentrant=False,
            context_fn=partial(_recompute_contexts, self))

    def deploy_weights(self) -> 'DeployBlockWeights':
        """The tensors of the deploy form, by role (the one accessor of
        :mod:`mmunireplk.deploy.cpu_kernels`, independent of the layout).

        Raises:
            RuntimeError: If the block is not in the deploy form.
        """
        if not self.deploy:
            raise RuntimeError('deploy_weights() needs the deploy form: call '
                               'reparameterize() (or the backbone\'s '
                               'switch_to_deploy()) first')
        conv = getattr(self.dwconv, 'lk_origin', self.dwconv)
        fc1, grn, fc2 = self.pwconv1[1], self.act[1], self.pwconv2[0]
        return DeployBlockWeights(conv.weight, conv.bias, self.se.down.weight,
                                  self.se.down.bias, self.se.up.weight,
                                  self.se.up.bias, fc1.weight, fc1.bias,
                                  grn.gamma, fc2.weight, fc2.bias)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Convert in place to the deploy form (no-op if already there)."""
        if self.deploy:
            return
        # 1-3: merge the depthwise branches, then fold the block norm.
        if isinstance(self.dwconv, DilatedReparamBlock):
            self.dwconv.reparameterize()
            conv = self.dwconv.lk_origin
        else:
            conv = self.dwconv
        weight, bias = fuse_bn(conv.weight, conv.bias, self.norm)
        fused = depthwise_conv(weight.shape[0], weight.shape[-1],
                               bias=True).to(weight)
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
        if isinstance(self.dwconv, DilatedReparamBlock):
            self.dwconv.lk_origin = fused
        else:
            self.dwconv = fused
        self.norm = nn.Identity()

        # 4: fold GRN beta, the pwconv2 BN and the layer scale into a Linear.
        grn = self.act[1]
        linear, bn = self.pwconv2[0], self.pwconv2[2]
        weight, bias = linear.weight, linear.bias
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        if grn.use_bias:
            bias = bias + weight @ grn.beta.reshape(-1)
            del grn.beta
            grn.use_bias = False
        weight, bias = fuse_bn(weight, bias, bn)
        if self.gamma is not None:
            weight = weight * self.gamma.view(-1, 1)
            bias = bias * self.gamma
        self.gamma = None
        new_linear = nn.Linear(
            linear.in_features, linear.out_features, bias=True).to(weight)
        new_linear.weight.copy_(weight)
        new_linear.bias.copy_(bias)
        self.pwconv2 = nn.Sequential(new_linear, self.pwconv2[1])
