# Copyright (c) mmunireplk contributors. All rights reserved.
"""The CPU stand-in for SyncBN that the distributed recipe tests rely on:
with 2 gloo processes it computes what one BatchNorm2d computes on the
concatenated batch (outputs, gradients, running statistics)."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from tests.test_dist.recipe_standins import (GlooSyncBatchNorm,
                                             convert_to_gloo_sync_bn)

WORLD_SIZE = 2
PER_RANK = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _data():
    """Full batch, output weights and BN affine parameters (all ranks)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(WORLD_SIZE * PER_RANK, 4, 5, 6, generator=gen) * 3 + 2
    out_weight = torch.randn(x.shape, generator=gen)
    weight = torch.rand(4, generator=gen) + 0.5
    bias = torch.randn(4, generator=gen)
    return x, out_weight, weight, bias


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', rank=rank, world_size=WORLD_SIZE, init_method='env://')
    x, out_weight, weight, bias = _data()
    part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    bn = GlooSyncBatchNorm(4)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
    x_local = x[part].clone().requires_grad_()
    y = bn(x_local)
    (y * out_weight[part]).sum().backward()
    # DDP sums (and averages) parameter gradients over the ranks
    grads = [bn.weight.grad.clone(), bn.bias.grad.clone()]
    for grad in grads:
        dist.all_reduce(grad)
    stats = [bn.running_mean.clone(), bn.running_var.clone()]
    # momentum 0 (the with_cp recomputation): statistics unchanged
    bn.momentum = 0.
    bn(x_local)
    unchanged = torch.equal(bn.running_mean, stats[0]) and torch.equal(
        bn.running_var, stats[1])
    torch.save(
        dict(y=y.detach(), x_grad=x_local.grad, grads=grads, stats=stats,
             count=int(bn.num_batches_tracked), unchanged=unchanged),
        os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


@pytest.mark.timeout(180)
def test_stand_in_equals_batch_norm_of_the_whole_batch(tmp_path):
    mp.start_processes(
        _worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE,
        join=True, start_method='spawn')
    x, out_weight, weight, bias = _data()
    ref = nn.BatchNorm2d(4)
    with torch.no_grad():
        ref.weight.copy_(weight)
        ref.bias.copy_(bias)
    x = x.clone().requires_grad_()
    y = ref(x)
    (y * out_weight).sum().backward()
    for rank in range(WORLD_SIZE):
        result = torch.load(tmp_path / f'rank{rank}.pt', weights_only=False)
        part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        torch.testing.assert_close(result['y'], y.detach()[part])
        torch.testing.assert_close(result['x_grad'], x.grad[part])
        torch.testing.assert_close(result['grads'][0], ref.weight.grad)
        torch.testing.assert_close(result['grads'][1], ref.bias.grad)
        torch.testing.assert_close(result['stats'][0], ref.running_mean)
        torch.testing.assert_close(result['stats'][1], ref.running_var)
        assert result['count'] == 2 and result['unchanged']


def test_conversion_shares_parameters_and_buffers():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4),
        nn.Sequential(nn.SyncBatchNorm(4), nn.LayerNorm(4)))
    bn, sync_bn = model[1], model[2][0]
    assert convert_to_gloo_sync_bn(model) == 2
    for old, new in ((bn, model[1]), (sync_bn, model[2][0])):
        assert type(new) is GlooSyncBatchNorm
        assert new.weight is old.weight and new.bias is old.bias
        assert new.running_mean is old.running_mean
        assert new.num_batches_tracked is old.num_batches_tracked
    assert isinstance(model[2][1], nn.LayerNorm)
