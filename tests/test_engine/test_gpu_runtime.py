# Copyright (c) mmunireplk contributors. All rights reserved.
"""What the train / test tools do on GPU machines, simulated on the CPU:
a GPU node whose CUDA is unusable stops with the cause (no silent CPU
run), the preflight catches an mmcv without ops for the GPU, TF32 is on by
default and ``--amp`` takes a dtype."""
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.helpers import REPO, load_tool

# tools/ is on sys.path (tests/conftest.py); `runtime` is the module object
# the train / test tools import, so monkeypatching it reaches them
import launch_utils as runtime  # noqa: I100
from launch_utils import (CudaUnusableError, check_mmcv_ops, gpu_node_signs,
                          resolve_device, set_amp)

pytestmark = pytest.mark.timeout(60)

DET_CONFIG = osp.join(
    REPO, 'configs', '_demo_',
    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_det-demo.py')
SEG_CONFIG = osp.join(REPO, 'configs', '_demo_',
                      'upernet_unireplknet-a_seg-demo.py')
DRIVER_TOO_OLD = ('The NVIDIA driver on your system is too old (found '
                  'version 11040).')


@pytest.fixture
def gpu_node(tmp_path, monkeypatch):
    """A node with NVIDIA device files whose CUDA torch cannot use."""
    dev = tmp_path / 'dev'
    dev.mkdir()
    (dev / 'nvidia0').touch()
    monkeypatch.setattr(runtime, 'gpu_node_signs',
                        lambda env=None, dev_dir='/dev':
                        gpu_node_signs({}, str(dev)))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.version, 'cuda', '13.0')

    def init():
        raise RuntimeError(DRIVER_TOO_OLD)

    monkeypatch.setattr(torch.cuda, 'init', init)
    return str(dev)


@pytest.fixture
def cuda_available(monkeypatch):
    """torch reports one usable GPU; kernels are not run (no GPU here)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(runtime, 'check_torch_cuda', lambda device: None)
    matmul, cudnn = (torch.backends.cuda.matmul.allow_tf32,
                     torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def test_gpu_node_signs(tmp_path):
    dev = tmp_path / 'dev'
    dev.mkdir()
    assert gpu_node_signs({'PATH': ''}, str(dev)) == []
    (dev / 'nvidia0').touch()
    (dev / 'nvidiactl').touch()
    assert gpu_node_signs({'PATH': ''}, str(dev)) == [
        f'1 NVIDIA device file(s) in {dev}'
    ]
    signs = gpu_node_signs({'PATH': '', 'CUDA_VISIBLE_DEVICES': '7',
                            'SLURM_JOB_GPUS': '0,1'}, str(tmp_path))
    assert signs == ['CUDA_VISIBLE_DEVICES=7', 'SLURM_JOB_GPUS=0,1']
    # hidden on purpose
    assert gpu_node_signs({'PATH': '', 'CUDA_VISIBLE_DEVICES': ''},
                          str(dev)) == []
    fake_bin = tmp_path / 'bin'
    fake_bin.mkdir()
    (fake_bin / 'nvidia-smi').write_text('#!/bin/sh\n')
    (fake_bin / 'nvidia-smi').chmod(0o755)
    assert gpu_node_signs({'PATH': str(fake_bin)},
                          str(tmp_path)) == ['nvidia-smi on PATH']


def test_unusable_cuda_on_a_gpu_node_is_an_error(gpu_node):
    with pytest.raises(CudaUnusableError) as error:
        resolve_device('auto')
    message = str(error.value)
    assert 'NVIDIA device file' in message and 'too old' in message
    assert '--device cpu' in message
    # the CPU on purpose
    assert resolve_device('cpu') == 'cpu'


def test_machine_without_gpus_runs_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_device('auto', env={'PATH': ''},
                          dev_dir=str(tmp_path)) == 'cpu'
    with pytest.raises(CudaUnusableError, match='--device cuda'):
        resolve_device('cuda', env={'PATH': ''}, dev_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'auto', 'cuda' or 'cpu'"):
        resolve_device('gpu')


def test_cpu_on_purpose_refused_when_torch_already_uses_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    with pytest.raises(CudaUnusableError, match='CUDA_VISIBLE_DEVICES='):
        resolve_device('cpu')


def test_train_tool_stops_on_a_gpu_node_with_unusable_cuda(
        gpu_node, tmp_path):
    tool = load_tool('tools/train.py')
    args = tool.parse_args([DET_CONFIG, '--work-dir', str(tmp_path)])
    with pytest.raises(CudaUnusableError, match='too old'):
        tool.build_config(args)
    # --device cpu trains on the CPU on purpose, with the CPU adaptations
    args = tool.parse_args(
        [DET_CONFIG, '--work-dir', str(tmp_path), '--device', 'cpu'])
    cfg, _ = tool.build_config(args)
    assert cfg.work_dir == str(tmp_path)


def test_test_tool_stops_on_a_gpu_node_with_unusable_cuda(
        gpu_node, tmp_path):
    tool = load_tool('tools/test.py')
    checkpoint = tmp_path / 'weights.pth'
    torch.save(dict(state_dict={}), checkpoint)
    with pytest.raises(CudaUnusableError, match='too old'):
        tool.main([SEG_CONFIG, str(checkpoint)])


def test_preflight_stops_a_detector_when_mmcv_lacks_cuda_ops(
        cuda_available, monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, 'get_compiling_cuda_version',
                        lambda: 'not available')
    tool = load_tool('tools/train.py')
    args = tool.parse_args([DET_CONFIG, '--work-dir', str(tmp_path)])
    with pytest.raises(CudaUnusableError) as error:
        tool.build_config(args)
    assert 'without CUDA ops' in str(error.value)
    assert 'TORCH_CUDA_ARCH_LIST' in str(error.value)


def test_mmcv_ops_check(monkeypatch):
    check_mmcv_ops('cpu')  # the real ops run and agree with themselves

    def no_kernel(*args, **kwargs):
        raise RuntimeError('CUDA error: no kernel image is available for '
                           'execution on the device')

    monkeypatch.setattr(runtime, 'nms', no_kernel)
    with pytest.raises(CudaUnusableError) as error:
        check_mmcv_ops('cpu')
    assert 'no kernel image' in str(error.value)
    assert 'TORCH_CUDA_ARCH_LIST' in str(error.value)


def test_tf32_on_by_default_on_cuda(cuda_available, tmp_path):
    tool = load_tool('tools/train.py')
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    args = tool.parse_args([SEG_CONFIG, '--work-dir', str(tmp_path)])
    _, messages = tool.build_config(args)
    assert torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.allow_tf32
    assert any('TF32' in m and 'on' in m for m in messages)

    args = tool.parse_args(
        [SEG_CONFIG, '--work-dir', str(tmp_path), '--no-tf32'])
    tool.build_config(args)
    assert not torch.backends.cuda.matmul.allow_tf32
    assert not torch.backends.cudnn.allow_tf32


def test_amp_dtype(cuda_available, tmp_path):
    tool = load_tool('tools/train.py')
    args = tool.parse_args(
        [SEG_CONFIG, '--work-dir', str(tmp_path), '--amp', 'bf16'])
    cfg, _ = tool.build_config(args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    args = tool.parse_args([SEG_CONFIG, '--work-dir', str(tmp_path), '--amp'])
    cfg, _ = tool.build_config(args)
    assert cfg.optim_wrapper.dtype == 'float16'
    with pytest.raises(SystemExit):
        tool.parse_args([SEG_CONFIG, '--amp', 'fp8'])
    with pytest.raises(ValueError, match='AMP dtype'):
        set_amp(Config(dict(optim_wrapper=dict(type='OptimWrapper'))), 'fp8')


def test_amp_bf16_refused_for_detectors(cuda_available, tmp_path):
    """mmcv's RoIAlign has no bf16 kernel: a clear error up front, not a
    crash in the first RoI head."""
    tool = load_tool('tools/train.py')
    args = tool.parse_args(
        [DET_CONFIG, '--work-dir', str(tmp_path), '--amp', 'bf16'])
    with pytest.raises(ValueError, match='RoIAlign has no bfloat16'):
        set_amp(Config.fromfile(DET_CONFIG), args.amp)
    cfg = Config.fromfile(DET_CONFIG)
    set_amp(cfg, 'fp16')
    assert cfg.optim_wrapper.dtype == 'float16'


class _FakeRunner:
    """What the tools use of a Runner, recording whether a group was live
    while it ran."""

    def __init__(self, log_dir: str) -> None:
        self.logger = logging.getLogger('fake-runner')
        self.ran_in_group = False
        self.log_dir = log_dir

    def train(self) -> None:
        self.ran_in_group = torch.distributed.is_initialized()

    def test(self) -> dict:
        self.ran_in_group = torch.distributed.is_initialized()
        return {}


@pytest.fixture
def one_rank_launch(monkeypatch):
    """The environment torchrun gives one process of a one-process job."""
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='29631').items():
        monkeypatch.setenv(key, value)
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize('tool_path', ['tools/train.py', 'tools/test.py'])
def test_tools_destroy_their_process_group(tool_path, one_rank_launch,
                                           monkeypatch, tmp_path):
    # a process that exits with a live gloo group can abort in gloo's
    # threads ("terminate called without an active exception")
    tool = load_tool(tool_path)
    runner = _FakeRunner(str(tmp_path))
    monkeypatch.setattr(tool.Runner, 'from_cfg', lambda cfg: runner)
    checkpoint = tmp_path / 'weights.pth'
    torch.save(dict(state_dict={}), checkpoint)
    args = [SEG_CONFIG, '--work-dir', str(tmp_path), '--launcher', 'pytorch']
    if tool_path == 'tools/test.py':
        args.insert(1, str(checkpoint))
    tool.main(args)
    assert runner.ran_in_group
    assert not torch.distributed.is_initialized()


def test_distributed_run_keeps_the_group_after_an_error(one_rank_launch):
    # a failing rank exits without waiting on its peers
    with pytest.raises(ValueError):
        with runtime.distributed_run('pytorch'):
            raise ValueError('a failing step')
    assert torch.distributed.is_initialized()
