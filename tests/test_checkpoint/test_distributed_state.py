# Copyright (c) mmunireplk contributors. All rights reserved.
"""Checkpoint behaviour that needs several processes, with two gloo
processes on the CPU: each rank resumes its own RNG state, and only the
first process of a node downloads a pretrained URL."""
import json
import os
import os.path as osp
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmunireplk.checkpoint import load_url_checkpoint
from mmunireplk.checkpoint.runner_state import (rank_rng_states,
                                                rng_state_of_rank,
                                                set_rng_state)

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _init_group(rank: int, world_size: int, port: int) -> None:
    os.environ.update(
        MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)


def _spawn(fn, world_size: int, *args) -> None:
    mp.start_processes(fn, args=(world_size, _free_port()) + args,
                       nprocs=world_size, join=True, start_method='spawn')


class RandomDrawModel(BaseModel):
    """Each training step draws from torch's RNG (as drop path and RoI
    sampling do) and records the draw."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.draws = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        draw = torch.rand(1)
        if self.training:
            self.draws.append(draw.item())
        inputs = torch.stack(list(inputs))  # mmengine's pseudo_collate
        return dict(loss=(self.weight * draw * inputs.mean()).sum())


class Numbers(Dataset):

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([float(index)]))


def _train(work_dir: str, max_iters: int, resume: bool) -> list:
    runner = Runner(
        model=RandomDrawModel(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=Numbers(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=1,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        custom_hooks=[dict(type='mmunireplk.SafeCheckpointHook')],
        # every rank draws other numbers, as in a real run after the first
        # data-dependent draw
        randomness=dict(seed=0, diff_rank_seed=True),
        launcher='pytorch',
        # DDP on the CPU (no device ids)
        cfg=dict(model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', device_ids=None)),
        resume=resume,
        experiment_name=f'{osp.basename(work_dir)}_{max_iters}_{resume}',
        default_scope='mmunireplk')
    runner.train()
    return runner.model.module.draws


def _rng_run(rank: int, world_size: int, port: int, root: str) -> None:
    _init_group(rank, world_size, port)
    full = _train(osp.join(root, 'full'), 4, resume=False)
    # an interrupted run: stopped after the checkpoint of iteration 2
    _train(osp.join(root, 'cut'), 2, resume=False)
    resumed = _train(osp.join(root, 'cut'), 4, resume=True)
    with open(osp.join(root, f'draws_{rank}.json'), 'w') as f:
        json.dump(dict(full=full, resumed=resumed), f)
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_each_rank_resumes_its_own_rng_state(tmp_path):
    _spawn(_rng_run, WORLD_SIZE, str(tmp_path))
    draws = []
    for rank in range(WORLD_SIZE):
        with open(tmp_path / f'draws_{rank}.json') as f:
            draws.append(json.load(f))
    for rank, result in enumerate(draws):
        # iterations 3 and 4 repeat the uninterrupted run on every rank
        assert result['resumed'] == result['full'][2:], rank
    assert draws[0]['full'][2:] != draws[1]['full'][2:]


def test_rng_state_of_another_world_size_is_not_restored():
    states = [dict(python='state of rank 0'), dict(python='state of rank 1')]
    entry = rank_rng_states(states)
    assert rng_state_of_rank(entry, 1, 2) == (states[1], '')
    state, reason = rng_state_of_rank(entry, 0, 1)
    assert state is None and '2 process(es)' in reason
    # single-process checkpoints stored one bare state
    assert rng_state_of_rank(states[0], 0, 1) == (states[0], '')
    assert rng_state_of_rank(states[0], 0, 4)[0] is None


def test_cuda_rng_state_goes_to_the_current_device_only(monkeypatch):
    """States written per visible device (8 GPUs) restore on a machine with
    fewer: only the current device's entry is used."""
    calls = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_rng_state',
                        lambda state, device='cuda': calls.append(state))
    from mmunireplk.checkpoint.runner_state import get_rng_state
    base = get_rng_state()
    per_device = [torch.full((16, ), i, dtype=torch.uint8) for i in range(8)]
    set_rng_state(dict(base, cuda=per_device))
    assert len(calls) == 1 and torch.equal(calls[0], per_device[1])
    calls.clear()
    set_rng_state(dict(base, cuda=per_device[5]))
    assert len(calls) == 1 and torch.equal(calls[0], per_device[5])


def _download_run(rank: int, world_size: int, port: int, root: str) -> None:
    _init_group(rank, world_size, port)
    log = osp.join(root, 'downloads.log')

    def fake_download(url, dst, progress=True):
        time.sleep(1.0)  # a slow download: the other rank must wait
        with open(log, 'a') as f:
            f.write(f'{rank}\n')
        torch.save(dict(state_dict=dict(w=torch.full((2, ), 7.))), dst)

    torch.hub.download_url_to_file = fake_download
    checkpoint = load_url_checkpoint(
        'https://example.com/weights/model.pth',
        model_dir=osp.join(root, 'hub'))
    assert checkpoint['state_dict']['w'].tolist() == [7., 7.]
    dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_only_the_first_process_downloads_a_url(tmp_path):
    _spawn(_download_run, WORLD_SIZE, str(tmp_path))
    with open(tmp_path / 'downloads.log') as f:
        assert f.read().split() == ['0']
