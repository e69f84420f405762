# Copyright (c) mmunireplk contributors. All rights reserved.
"""The block's small maths as functions of tensors, shared by the modules
and the fast CPU path (:mod:`.cpu_inference`)."""
import torch
import torch.nn.functional as F
from torch import Tensor


def se_gate(x: Tensor, down_weight: Tensor, down_bias: Tensor,
            up_weight: Tensor, up_bias: Tensor) -> Tensor:
    """The squeeze-and-excitation gate ``sigmoid(up(relu(down(mean(x)))))``
    with the mean over the spatial dims.

    Args:
        x (Tensor): Feature map, shape (N, C, H, W), any memory format.
        down_weight, up_weight (Tensor): The 1x1 conv weights (any trailing
            singleton dims).
        down_bias, up_bias (Tensor): Their biases.

    Returns:
        Tensor: The gate, shape (N, C).
    """
    pooled = x.mean(dim=(2, 3))
    hidden = F.relu(F.linear(pooled, down_weight.flatten(1), down_bias))
    return torch.sigmoid(F.linear(hidden, up_weight.flatten(1), up_bias))


def grn_scale_from_squares(sum_of_squares: Tensor, gamma: Tensor) -> Tensor:
    """The GRN scale ``gamma * Nx + 1`` from the per-channel sums of
    ``x ** 2`` over the spatial dims (shape (N, C)), ``Gx`` their square
    root and ``Nx = Gx / (mean_C(Gx) + 1e-6)``."""
    gx = sum_of_squares.sqrt()
    nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
    return gamma.reshape(1, -1) * nx + 1
