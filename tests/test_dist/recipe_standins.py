# Copyright (c) mmunireplk contributors. All rights reserved.
"""Test-only modules for running the shipped recipes under DDP on CPU.

A config imports this module (``custom_imports``) to get:

- :class:`GlooSyncBatchNorm`: a CPU stand-in for ``SyncBatchNorm``, whose
  batch statistics are summed over all ranks with a differentiable
  all-reduce (works with gloo; torch's ``SyncBatchNorm`` only runs on
  GPUs);
- :class:`StandInSyncBNRunner`: a Runner that swaps every BatchNorm of the
  model for the stand-in before DDP wraps it (``tools/train.py`` turns the
  recipes' SyncBN into BN on a machine without CUDA);
- :class:`RecipeProbeHook`: records, on every rank, what the tests compare:
  which recipe features are active, the gradients of the first step, the BN
  statistics after every step, and the final weights and EMA weights.
"""
import hashlib
import os.path as osp
import random
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, MODELS, RUNNERS
from mmengine.runner import Runner
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel


class _AllReduceSum(torch.autograd.Function):
    """Sum over all ranks of the default process group. Every rank's output
    is the same sum, so the gradient of each rank's input is the sum of all
    ranks' output gradients: another all-reduce."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


@MODELS.register_module('GlooSyncBN')
class GlooSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics cover all ranks.

    Like ``SyncBatchNorm``: the batch mean and (biased) variance used for
    normalising are those of the union of all ranks' batches, the running
    variance is updated with the unbiased variance of that union, and the
    gradients flow through the cross-rank sums. The running statistics
    follow ``momentum`` (so a momentum of 0 leaves them unchanged, as
    activation checkpointing's recomputation needs). Without an initialised
    process group of several ranks, or in eval mode, it is a plain
    BatchNorm2d.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_available()
                and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, channels] + [1] * (x.dim() - 2)
        # sums over all ranks; the count travels with the first sum
        local = torch.cat(
            [x.sum(dims), x.new_full((1, ), float(x.numel() // channels))])
        total = _AllReduceSum.apply(local)
        count = total[-1].detach()
        mean = total[:channels] / count
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked)
                          if self.momentum is None else self.momentum)
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - factor).add_(mean * factor)
                self.running_var.mul_(1 - factor).add_(unbiased * factor)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_to_gloo_sync_bn(module: nn.Module) -> int:
    """Replace every BatchNorm2d below ``module`` by a
    :class:`GlooSyncBatchNorm` that shares its parameters and buffers.

    Returns:
        int: The number of replaced layers.
    """
    replaced = 0
    for name, child in module.named_children():
        if type(child) in (nn.BatchNorm2d, nn.SyncBatchNorm):
            new = GlooSyncBatchNorm(
                child.num_features,
                eps=child.eps,
                momentum=child.momentum,
                affine=child.affine,
                track_running_stats=child.track_running_stats)
            # the same Parameter and buffer objects: nothing is copied
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean = child.running_mean
                new.running_var = child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
            replaced += 1
        else:
            replaced += convert_to_gloo_sync_bn(child)
    return replaced


@RUNNERS.register_module()
class StandInSyncBNRunner(Runner):
    """Runner that gives the model :class:`GlooSyncBatchNorm` layers before
    wrapping it (the recipes' SyncBN, which no CPU can run)."""

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        if not is_model_wrapper(model):
            convert_to_gloo_sync_bn(model)
        return super().wrap_model(model_wrapper_cfg, model)


def _state(module: nn.Module) -> Dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _rng_digests() -> Dict[str, str]:
    """Short digests of the torch, numpy and python RNG states."""

    def digest(value) -> str:
        return hashlib.sha1(repr(value).encode()).hexdigest()[:12]

    return dict(
        torch=digest(torch.get_rng_state().tolist()),
        numpy=digest(np.random.get_state()[1].tolist() +
                     [np.random.get_state()[2]]),
        python=digest(random.getstate()))


def _bn_state(module: nn.Module) -> Dict[str, Tensor]:
    return {
        name: buf.detach().clone()
        for name, buf in module.named_buffers()
        if name.endswith(('running_mean', 'running_var',
                          'num_batches_tracked'))
    }


@HOOKS.register_module()
class RecipeProbeHook(Hook):
    """Record what the distributed recipe tests compare, per rank.

    Written after training to ``<work_dir>/probe_rank<R>.pt``: ``features``
    (the model wrapper, process group backend, BN layers and stand-ins,
    ``with_cp`` flags and drop-path rates of the backbone, hooks, lr scales
    and group names of the optimiser, the first step of this run),
    ``steps`` (1-based steps run), ``rng`` (digests of the torch, numpy and
    python RNG states before each step), ``batches`` (shape and sum of each
    input image of each step), ``bn`` (BN buffers after each step),
    ``grads`` (the gradients the optimiser saw at the first step, after
    DDP's all-reduce), ``no_grad`` (trainable parameters without a gradient
    at that step), ``initial`` and ``state`` (the state dict before the
    first step, i.e. after a resume, and after training) and ``ema`` (the
    EMA model's state dict, if an EMAHook runs).
    """
    # after every other hook, EMAHook's update included
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.record: dict = {}
        self._names: Dict[int, str] = {}

    @staticmethod
    def _module(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        module = self._module(runner)
        bns = [m for m in module.modules() if isinstance(m, _BatchNorm)]
        backbone = getattr(module, 'backbone', module)
        optimizer = runner.optim_wrapper.optimizer
        self.record = dict(
            features=dict(
                ddp=isinstance(runner.model, DistributedDataParallel),
                backend=dist.get_backend() if dist.is_initialized() else None,
                world_size=runner.world_size,
                num_bn=len(bns),
                num_stand_in=sum(
                    isinstance(m, GlooSyncBatchNorm) for m in bns),
                with_cp=[
                    m.with_cp for m in backbone.modules()
                    if hasattr(m, 'with_cp') and m is not backbone
                ],
                drop_path=[
                    float(m.drop_prob) for m in backbone.modules()
                    if hasattr(m, 'drop_prob')
                ],
                hooks=[type(h).__name__ for h in runner.hooks],
                lr_scales=sorted(
                    {g.get('lr_scale', 1.0)
                     for g in optimizer.param_groups}),
                group_names=[
                    g.get('group_name') for g in optimizer.param_groups
                ],
                start_iter=runner.iter),
            initial=_state(module),
            steps=[],
            rng=[],
            batches=[],
            bn=[],
            grads=None,
            no_grad=None)
        self._names = {
            id(p): name
            for name, p in module.named_parameters() if p.requires_grad
        }
        optimizer.register_step_pre_hook(self._grads_of_first_step)

    def _grads_of_first_step(self, optimizer, args, kwargs) -> None:
        if self.record['grads'] is not None:
            return
        grads: Dict[str, Tensor] = {}
        missing: List[str] = []
        for group in optimizer.param_groups:
            for p in group['params']:
                name = self._names[id(p)]
                if p.grad is None:
                    missing.append(name)
                else:
                    grads[name] = p.grad.detach().clone()
        self.record['grads'], self.record['no_grad'] = grads, missing

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self.record['rng'].append(_rng_digests())
        self.record['batches'].append([(tuple(img.shape),
                                        float(img.double().sum()))
                                       for img in data_batch['inputs']])

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self.record['steps'].append(runner.iter + 1)
        self.record['bn'].append(_bn_state(self._module(runner)))

    def after_train(self, runner) -> None:
        self.record['state'] = _state(self._module(runner))
        ema = [h for h in runner.hooks if isinstance(h, EMAHook)]
        self.record['ema'] = _state(ema[0].ema_model) if ema else None
        torch.save(
            self.record,
            osp.join(runner.work_dir, f'probe_rank{runner.rank}.pt'))
