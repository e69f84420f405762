# Copyright (c) mmunireplk contributors. All rights reserved.
"""The GPU check kit runs (dry mode on CPU) and the CUDA build helper of
tools/install.sh picks the right packages, arch list and CUDA_HOME."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest

from gpu_check import (INFER_MODELS, SECTIONS, TOLERANCES, TRAIN_MODELS,
                       VARIANTS, format_table, run_gpu_check, summarize)
from tests.test_perf.utils import REPO, load_tool


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    """One dry run of the CLI (about 30 s on 2 cores)."""
    out = tmp_path_factory.mktemp('gpu_check')
    tool = load_tool('tools/analysis_tools/gpu_check.py')
    rc = tool.main(['--dry-run', '--out-dir', str(out)])
    with open(out / 'gpu_check.json') as f:
        return rc, json.load(f)


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_dry_run_sections_and_summary(dry_run):
    rc, result = dry_run
    assert rc == 0, result['summary']['failures']
    assert result['schema_version'] == 1
    assert result['env']['dry_run'] is True
    assert result['env']['device'] == 'cpu'
    assert set(result['sections']) == set(SECTIONS)
    assert set(result['seconds']) == set(SECTIONS) | {'total'}
    assert result['summary']['ok'] is True
    assert result['summary']['failures'] == []
    # every skip says why
    for item in result['summary']['skipped']:
        assert ': ' in item and item.split(': ', 1)[1]


def test_dry_run_backbone_rows(dry_run):
    _, result = dry_run
    bb = result['sections']['backbone']
    rows = {(r['variant'], r['model'], r['phase']): r for r in bb['rows']}
    expected = set()
    for variant, spec in VARIANTS.items():
        expected |= {(variant, m, 'train') for m in TRAIN_MODELS}
        if not spec.get('train_only'):
            expected |= {(variant, m, 'infer') for m in INFER_MODELS}
    assert set(rows) == expected
    for key, row in rows.items():
        if row['status'] == 'skipped':
            assert row['reason'], key
            continue
        assert row['status'] == 'ok', (key, row)
        assert _finite(row['img_per_s']) and row['img_per_s'] > 0, key
        assert _finite(row['tflops_per_s']) and row['tflops_per_s'] > 0
        if key[0] in result['settings']['memory_variants']:
            assert _finite(row['peak_mem_mib']), key
        else:
            assert row['peak_mem_mib'] is None and row['peak_mem_note']
    # training steps hold activations; checkpointing must lower the peak
    # of the UniRepLKNet step (measured here for fp32 and with_cp)
    plain = rows[('fp32', 'unireplknet', 'train')]['peak_mem_mib']
    with_cp = rows[('amp_fp16_with_cp', 'unireplknet', 'train')]
    assert plain > 0 and with_cp['peak_mem_mib'] < plain
    macs = bb['gmacs_per_img']
    assert macs['unireplknet'] > macs['unireplknet-deploy'] > 0


def test_dry_run_training_and_precision(dry_run):
    _, result = dry_run
    for task in ('det', 'seg'):
        train = result['sections']['amp_train'][task]
        assert train['status'] == 'ok', train
        assert train['optim_wrapper'] == 'OptimWrapper'  # CPU: fp32
        assert train['iterations'] == result['settings']['train_iters']
        assert all(_finite(v) and v > 0 for v in train['losses'])
        assert _finite(train['seconds_per_iter'])
    dp = result['sections']['deploy_precision']
    assert set(dp['comparisons']) == set(TOLERANCES)
    for name, cmp in dp['comparisons'].items():
        if cmp['status'] == 'skipped':
            assert cmp['reason']
            continue
        assert cmp['status'] == 'ok', (name, cmp)
        assert len(cmp['per_output']) == 4
        assert 0 <= cmp['max_rel_err'] <= cmp['tolerance']
    # the re-parameterisation is exact to fp32 rounding; fp16 is not
    assert dp['comparisons']['deploy_vs_training_fp32']['max_rel_err'] < 1e-5
    if dp['comparisons']['fp16']['status'] == 'ok':
        assert dp['comparisons']['fp16']['max_rel_err'] > 1e-5
    roi = result['sections']['roi_align']
    assert roi['status'] == 'ok' and roi['max_abs_feature'] > 0
    assert roi['max_abs_diff'] <= 1e-5 * roi['max_abs_feature']
    assert roi['cuda_vs_cpu']['status'] == 'skipped'


def test_table_lists_every_result(dry_run):
    _, result = dry_run
    table = format_table(result)
    assert 'DRY RUN' in table and 'summary: OK' in table
    for label in ('fp32', 'tf32', 'amp fp16', 'amp bf16', 'fp16 ch-last',
                  'fp16 with_cp', 'infer unireplknet-deploy',
                  'train swin', 'infer deploy / convnext', 'train det',
                  'train seg', 'amp_bf16 max rel err', 'raw vs contiguous'):
        assert label in table, label


def test_failed_check_fails_the_summary():
    result = dict(sections=dict(
        roi_align=dict(status='failed', reason='scrambled'),
        backbone=dict(rows=[dict(variant='fp32', model='swin', phase='infer',
                                 status='error', error='OOM')])))
    summary = summarize(result)
    assert summary['ok'] is False
    assert len(summary['failures']) == 2
    assert any('fp32/swin/infer' in f and 'OOM' in f
               for f in summary['failures'])


def test_cuda_check_refused_without_gpu(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    with pytest.raises(RuntimeError, match='--dry-run'):
        run_gpu_check(str(tmp_path))


# --------------------------------------------- CUDA build helper (install.sh)


@pytest.fixture(scope='module')
def cuda_env():
    return load_tool('tools/cuda_build_env.py')


def test_pinned_nvcc_packages(cuda_env):
    assert cuda_env.pinned_packages('13.0') == [
        'nvidia-cuda-nvcc==13.0.88', 'nvidia-cuda-crt==13.0.88',
        'nvidia-nvvm==13.0.88', 'nvidia-cuda-cccl==13.0.85'
    ]
    assert cuda_env.pinned_packages('13.0.2') == \
        cuda_env.pinned_packages('13.0')
    with pytest.raises(ValueError, match='CPU-only'):
        cuda_env.pinned_packages(None)
    with pytest.raises(ValueError, match='CUDA 12.4'):
        cuda_env.pinned_packages('12.4')


def test_arch_list_and_tag(cuda_env):
    assert cuda_env.arch_list({}, []) == cuda_env.DEFAULT_ARCH_LIST == '9.0'
    assert cuda_env.arch_list({}, [(9, 0), (8, 0), (9, 0)]) == '8.0;9.0'
    assert cuda_env.arch_list({'TORCH_CUDA_ARCH_LIST': '8.6+PTX'},
                              [(9, 0)]) == '8.6+PTX'
    assert cuda_env.wheel_tag('13.0', '9.0') == 'cuda13.0-arch9.0'
    assert cuda_env.wheel_tag('13.0', '8.0;9.0+PTX') == \
        'cuda13.0-arch8.0_9.0ptx'


def _fake_pip_toolkit(site, with_runtime, with_nvcc, release='13.0'):
    root = osp.join(site, 'nvidia', 'cu13')
    if with_nvcc:
        os.makedirs(osp.join(root, 'bin'))
        nvcc = osp.join(root, 'bin', 'nvcc')
        with open(nvcc, 'w') as f:
            f.write(f'#!/bin/sh\necho "Cuda compilation tools, release '
                    f'{release}, V{release}.88"\n')
        os.chmod(nvcc, 0o755)
        os.makedirs(osp.join(root, 'include', 'crt'))
        open(osp.join(root, 'include', 'crt', 'host_config.h'), 'w').close()
    if with_runtime:
        os.makedirs(osp.join(root, 'include'), exist_ok=True)
        os.makedirs(osp.join(root, 'lib'))
        open(osp.join(root, 'include', 'cuda_runtime.h'), 'w').close()
        open(osp.join(root, 'lib', 'libcudart.so.13'), 'w').close()
    return root


def test_cuda_home_merges_pip_folders(cuda_env, tmp_path):
    """torch's runtime and the nvcc packages in two site-packages (a venv
    with system site packages): one CUDA_HOME with both, the unversioned
    libcudart.so and lib64; the sources are not modified."""
    system = str(tmp_path / 'system')
    venv = str(tmp_path / 'venv')
    runtime = _fake_pip_toolkit(system, with_runtime=True, with_nvcc=False)
    _fake_pip_toolkit(venv, with_runtime=False, with_nvcc=True)
    roots = cuda_env.pip_cuda_roots('13.0', [venv, system, str(tmp_path)])
    assert [osp.dirname(osp.dirname(r)) for r in roots] == [venv, system]
    home = cuda_env.merge_tree(roots, str(tmp_path / 'home'))
    assert cuda_env.toolkit_problems(home, '13.0') == []
    assert os.readlink(osp.join(home, 'lib', 'libcudart.so')) == \
        'libcudart.so.13'
    assert osp.isfile(osp.join(home, 'lib64', 'libcudart.so.13'))
    assert osp.isfile(osp.join(home, 'include', 'crt', 'host_config.h'))
    assert not osp.lexists(osp.join(runtime, 'lib', 'libcudart.so'))
    # a toolkit of another CUDA major is refused
    other = _fake_pip_toolkit(str(tmp_path / 'other'), True, True, '12.8')
    os.symlink('libcudart.so.13', osp.join(other, 'lib', 'libcudart.so'))
    assert any('nvcc 12.8' in p
               for p in cuda_env.toolkit_problems(other, '13.0'))
    assert cuda_env.toolkit_problems(str(tmp_path / 'none'), '13.0')


def test_system_toolkit_lookup(cuda_env, tmp_path):
    home = _fake_pip_toolkit(str(tmp_path), True, True)
    os.symlink('libcudart.so.13', osp.join(home, 'lib', 'libcudart.so'))
    env = {'CUDA_HOME': home, 'PATH': ''}
    assert cuda_env.find_system_toolkit('13.0', env) == home
    env['MMUNIREPLK_CUDA_FROM_PIP'] = '1'
    assert cuda_env.find_system_toolkit('13.0', env) is None


def test_cuda_build_env_cli(tmp_path):
    """The commands install.sh runs (the torch here is a CUDA 13.0 build)."""
    import torch
    if torch.version.cuda is None:
        pytest.skip('CPU-only torch')
    script = osp.join(REPO, 'tools', 'cuda_build_env.py')
    tag = subprocess.run([sys.executable, script, 'tag'], check=True,
                         capture_output=True, text=True,
                         env=dict(os.environ, TORCH_CUDA_ARCH_LIST='9.0'))
    assert tag.stdout.strip() == f'cuda{torch.version.cuda}-arch9.0'
    pins = subprocess.run(
        [sys.executable, script, 'packages'], check=True,
        capture_output=True, text=True,
        env=dict(os.environ, MMUNIREPLK_CUDA_FROM_PIP='1'))
    assert 'nvidia-cuda-nvcc==' in pins.stdout
