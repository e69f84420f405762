# Copyright (c) mmunireplk contributors. All rights reserved.
"""Checkpoint I/O under torch >= 2.6 and the CPU adaptations of the tools."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from mmunireplk.checkpoint import (ATOMIC_BACKEND, AtomicLocalBackend,
                                   UnsafeCheckpointError,
                                   install_safe_loaders)
from mmunireplk.utils import detect_task, sync_bn_to_bn

# tools/ is on sys.path (tests/conftest.py)
from launch_utils import (adapt_to_cpu, set_amp,  # noqa: I100
                          use_atomic_checkpoints)


@pytest.fixture(autouse=True)
def safe_loaders():
    """mmengine's loader as our tools and SafeCheckpointHook set it."""
    install_safe_loaders()


needs_no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason='tests the no-CUDA fallbacks')


def test_mmengine_checkpoint_with_history_buffer_is_refused(tmp_path):
    """A checkpoint that pickles a HistoryBuffer (mmengine without
    SafeCheckpointHook) needs a getattr of functions to unpickle: refused
    through mmengine's CheckpointLoader, naming the global."""
    buffer = HistoryBuffer()
    buffer.update(1.5)
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(
        dict(
            state_dict=dict(w=torch.ones(2)),
            message_hub=dict(log_scalars={'train/loss': buffer})), path)
    with pytest.raises(UnsafeCheckpointError, match='HistoryBuffer'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    with pytest.raises(FileNotFoundError, match='not found'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))


def test_atomic_backend(tmp_path):
    backend = get_file_backend(backend_args=dict(backend=ATOMIC_BACKEND))
    assert isinstance(backend, AtomicLocalBackend)
    target = tmp_path / 'sub' / 'last_checkpoint'
    backend.put_text('epoch_1.pth', target)
    backend.put(b'abc', tmp_path / 'x.bin')
    assert target.read_text() == 'epoch_1.pth'
    assert (tmp_path / 'x.bin').read_bytes() == b'abc'
    assert sorted(os.listdir(tmp_path)) == ['sub', 'x.bin']

    cfg = Config(dict(default_hooks=dict(checkpoint=dict(interval=1))))
    use_atomic_checkpoints(cfg)
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend=ATOMIC_BACKEND)
    remote = Config(dict(default_hooks=dict(checkpoint=dict(
        out_dir='s3://bucket/run'))))
    use_atomic_checkpoints(remote)
    assert 'backend_args' not in remote.default_hooks.checkpoint


def test_detect_task():
    assert detect_task(Config(dict(default_scope='mmdet'))) == 'det'
    assert detect_task(Config(dict(default_scope='mmseg'))) == 'seg'
    assert detect_task(Config(dict(model=dict(type='mmseg.EncoderDecoder')))
                       ) == 'seg'
    assert detect_task(Config(dict(model=dict(type='Toy')))) is None


def test_sync_bn_to_bn():
    model = dict(
        backbone=dict(type='X', use_sync_bn=True),
        roi_head=dict(bbox_head=[
            dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
            dict(norm_cfg=dict(type='BN'))
        ]))
    changed = sync_bn_to_bn(model, 'model')
    assert changed == [
        'model.backbone.use_sync_bn',
        'model.roi_head.bbox_head[0].norm_cfg.type'
    ]
    assert model['backbone']['use_sync_bn'] is False
    assert model['roi_head']['bbox_head'][0]['norm_cfg'] == dict(
        type='BN', requires_grad=True)


@needs_no_cuda
def test_amp_falls_back_on_cpu():
    cfg = Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))))
    messages = set_amp(cfg, 'bf16')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert '--amp bf16 needs a CUDA GPU' in messages[0]
    cfg = Config(dict(optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=1e-4))))
    messages = set_amp(cfg, None)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert 'AmpOptimWrapper' in messages[0]


@needs_no_cuda
def test_adapt_to_cpu_distributed():
    cfg = Config(dict(
        model=dict(backbone=dict(use_sync_bn=True)),
        sync_bn='torch',
        find_unused_parameters=True,
        env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    messages = adapt_to_cpu(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=True,
        device_ids=None)
    assert cfg.model.backbone.use_sync_bn is False and cfg.sync_bn is None
    assert any('SyncBN converted to BN' in m for m in messages)
    bare = Config(dict(model=dict()))
    adapt_to_cpu(bare, 'pytorch')
    assert bare.env_cfg.dist_cfg.backend == 'gloo'
    single = Config(dict(model=dict(), env_cfg=dict(dist_cfg=dict(
        backend='nccl'))))
    adapt_to_cpu(single, 'none')
    assert single.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in single
