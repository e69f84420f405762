# Copyright (c) mmunireplk contributors. All rights reserved.
"""The GPU check kit runs (dry mode on CPU) and its checks fail when they
should. (The CUDA build helper of tools/install.sh is tested in
tests/test_utils/test_install_helpers.py.)"""
import contextlib
import json
import math

import pytest
import torch
from mmengine.optim import OptimWrapper

from mmunireplk.models.layers import UniRepLKNetBlock
from tests.test_perf.utils import load_tool

# tools/analysis_tools/ is on sys.path (conftest.py)
import gpu_check  # noqa: I100
from gpu_check import (AMP_RUNS, BF16_WITHOUT_CUDA, INFER_MODELS,
                       LAYOUT_STREAMS, LAYOUT_TOLERANCES, SCHEMA_VERSION,
                       SECTIONS, TOLERANCES, TRAIN_MODELS, VARIANTS,
                       compare_runs, format_table, run_gpu_check, summarize)

#: The first test that uses the dry run pays for it.
DRY_RUN_TIMEOUT = 900


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    """One dry run of the CLI (about 60 s on 2 cores)."""
    out = tmp_path_factory.mktemp('gpu_check')
    tool = load_tool('tools/analysis_tools/gpu_check.py')
    rc = tool.main(['--dry-run', '--out-dir', str(out)])
    with open(out / 'gpu_check.json') as f:
        return rc, json.load(f)


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
def test_dry_run_sections_and_summary(dry_run):
    rc, result = dry_run
    assert rc == 0, result['summary']['failures']
    assert result['schema_version'] == SCHEMA_VERSION == 2
    assert result['env']['dry_run'] is True
    assert result['env']['device'] == 'cpu'
    assert set(result['sections']) == set(SECTIONS)
    assert set(result['seconds']) == set(SECTIONS) | {'total'}
    assert result['summary']['ok'] is True
    assert result['summary']['failures'] == []
    # every skip says why
    for item in result['summary']['skipped']:
        assert ': ' in item and item.split(': ', 1)[1]


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
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


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
def test_dry_run_training_and_precision(dry_run):
    _, result = dry_run
    amp = result['sections']['amp_train']
    assert set(amp) == set(AMP_RUNS) == {'det', 'seg', 'seg_bf16'}
    for name, train in amp.items():
        if name.endswith('bf16'):  # AmpOptimWrapper asserts a GPU
            assert train == dict(status='skipped', reason=BF16_WITHOUT_CUDA)
            continue
        assert train['status'] == 'ok', (name, train)
        assert train['optim_wrapper'] == 'OptimWrapper'  # CPU: fp32
        assert train['compute_dtype'] == 'float32'
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


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
def test_dry_run_preflight(dry_run):
    _, result = dry_run
    pf = result['sections']['preflight']
    assert pf == dict(status='ok', device='cpu', seconds=pf['seconds'])
    assert _finite(pf['seconds'])


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
def test_dry_run_layout(dry_run):
    """Both tensor streams of the training form are timed and measured,
    give the same outputs and gradients, and really differ in layout: the
    model's own stream feeds the blocks channels-last strided tensors, the
    hooked one NCHW-contiguous ones."""
    _, result = dry_run
    lo = result['sections']['layout']
    assert lo['form'] == 'training'
    assert lo['case'] == result['settings']['train_case']
    cmp = lo['comparison']
    assert cmp['status'] == 'ok', cmp
    assert 0 <= cmp['outputs_max_rel_err'] <= LAYOUT_TOLERANCES['outputs']
    assert 0 <= cmp['grads_max_rel_err'] <= LAYOUT_TOLERANCES['grads']
    layouts = lo['block_input_layouts']
    assert layouts['as_is'].get('channels_last', 0) > 0
    assert 'nchw' not in layouts['as_is']
    assert set(layouts['nchw']) <= {'nchw', 'both'}
    assert layouts['nchw'].get('nchw', 0) == \
        layouts['as_is']['channels_last']
    rows = {(r['variant'], r['model']): r for r in lo['rows']}
    assert set(rows) == {(v, s) for v in result['settings']['layout_variants']
                         for s in LAYOUT_STREAMS}
    for key, row in rows.items():
        assert row['status'] == 'ok', (key, row)
        assert _finite(row['img_per_s']) and row['img_per_s'] > 0
        assert _finite(row['peak_mem_mib']) and row['peak_mem_mib'] > 0
    for variant, speedup in lo['nchw_speedup'].items():
        assert speedup == pytest.approx(rows[variant, 'nchw']['img_per_s'] /
                                        rows[variant, 'as_is']['img_per_s'])


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
def test_dry_run_resume(dry_run):
    """The resumed run starts at the checkpoint's iteration, continues to
    the end and matches the uninterrupted run, whose parameters really
    moved after the checkpoint."""
    _, result = dry_run
    rs = result['sections']['resume']
    assert rs['status'] == 'ok', rs
    opts = result['settings']['resume']
    per_epoch = rs['iterations'] // opts['epochs']
    assert per_epoch >= 1 and rs['iterations'] == per_epoch * opts['epochs']
    assert rs['resumed_start_iter'] == per_epoch * opts['resume_epoch']
    assert rs['resumed_iterations'] == rs['iterations'] - \
        rs['resumed_start_iter'] >= 1
    assert rs['map_location'] == 'cpu'
    assert len(rs['loss_rel_diffs']) == rs['resumed_iterations']
    assert all(_finite(v) and v > 0
               for v in rs['losses'] + rs['resumed_losses'])
    assert rs['resumed_losses'] == pytest.approx(
        rs['losses'][rs['resumed_start_iter']:], rel=1e-5)
    assert rs['moved'] > 0
    assert 0 <= rs['diff_over_moved'] <= rs['tolerance']['diff_over_moved']
    assert 'noise' not in rs  # CPU kernels: no spread to measure


@pytest.mark.slow
@pytest.mark.timeout(DRY_RUN_TIMEOUT)
def test_table_lists_every_result(dry_run):
    _, result = dry_run
    table = format_table(result)
    assert 'DRY RUN' in table and 'summary: OK' in table
    for label in ('fp32', 'tf32', 'amp fp16', 'amp bf16', 'fp16 ch-last',
                  'fp16 with_cp', 'infer unireplknet-deploy',
                  'train swin', 'infer deploy / convnext', 'train det',
                  'train seg', 'train seg_bf16',
                  'skipped amp_train.seg_bf16: bf16 AMP needs CUDA',
                  'amp_bf16 max rel err', 'raw vs contiguous',
                  'preflight mmcv ops on cpu', 'layout atto training form',
                  'NCHW / as is', 'layout NCHW vs as-is outputs',
                  'resume cpu: params diff / moved'):
        assert label in table, label


@pytest.mark.timeout(60)
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


@pytest.mark.timeout(60)
def test_cuda_check_refused_without_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    with pytest.raises(RuntimeError, match='--dry-run'):
        run_gpu_check(str(tmp_path))


@pytest.mark.timeout(120)
def test_preflight_failure_is_reported(tmp_path, monkeypatch):
    """The preflight's error (mmcv without ops for the device) fails the
    check, with its message (the fix) in the summary."""
    message = 'mmcv has no CUDA ops for this GPU: rebuild mmcv with ...'

    def no_ops(device):
        raise RuntimeError(message)

    monkeypatch.setattr(gpu_check, 'check_mmcv_ops', no_ops)
    result = run_gpu_check(str(tmp_path), dry_run=True,
                           sections=['preflight'])
    assert result['sections']['preflight'] == dict(
        status='failed', device='cpu', reason=message)
    assert result['summary']['ok'] is False
    assert result['summary']['failures'] == [
        f'preflight: failed {message}']


@pytest.mark.timeout(120)
@pytest.mark.parametrize('amp', ['fp16', 'bf16'])
def test_amp_runs_on_cuda_use_amp_optim_wrapper(tmp_path, monkeypatch, amp):
    """With CUDA, the amp_train runs train under AmpOptimWrapper in their
    dtype, as tools/train.py --amp sets it (the dry run cannot show it)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    settings = gpu_check.check_settings(dry_run=True)
    cfg, notes = gpu_check.amp_training_config(
        'seg', str(tmp_path / 'data'), str(tmp_path / 'work'), settings, amp)
    wrapper = cfg.optim_wrapper
    assert wrapper.type == 'AmpOptimWrapper' and notes == []
    assert wrapper.dtype == dict(fp16='float16', bf16='bfloat16')[amp]
    assert wrapper.loss_scale == 'dynamic'
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop',
                                 max_iters=settings['train_iters'])


@pytest.mark.timeout(60)
def test_compare_runs_measures_against_the_movement():
    start = {'w': torch.zeros(4), 'b': torch.ones(2)}
    ref = dict(state={'w': torch.full((4, ), .5), 'b': torch.ones(2)},
               losses=[3., 2., 1.])
    same = dict(state={k: v.clone() for k, v in ref['state'].items()},
                losses=[2., 1.])
    cmp = compare_runs(ref, same, start)
    assert cmp['diff_over_moved'] == 0 and cmp['max_abs_diff'] == 0
    assert cmp['loss_rel_diffs'] == [0, 0]  # the last two of the reference
    # |ref - start| = 1, |start| = sqrt(2)
    assert cmp['moved'] == pytest.approx(2**-.5)
    off = dict(state={'w': torch.full((4, ), .25), 'b': torch.ones(2)},
               losses=[2.2, 1.])
    cmp = compare_runs(ref, off, start)
    assert cmp['diff_over_moved'] == pytest.approx(.5)
    assert cmp['max_abs_diff'] == pytest.approx(.25)
    assert cmp['loss_rel_diffs'] == pytest.approx([.1, 0])
    with pytest.raises(ValueError, match='different parameters'):
        compare_runs(ref, dict(state={'w': start['w']}, losses=[]), start)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_resume_check_catches_a_lost_optimizer_state(tmp_path, monkeypatch):
    """A resume that restores everything but the optimizer's state (AdamW
    moments) starts at the right iteration with the right weights, yet
    the comparison must fail it."""
    monkeypatch.setattr(OptimWrapper, 'load_state_dict',
                        lambda self, state_dict: None)
    result = run_gpu_check(str(tmp_path), dry_run=True, sections=['resume'])
    rs = result['sections']['resume']
    assert rs['status'] == 'failed', rs
    assert rs['resumed_start_iter'] > 0 and rs['moved'] > 0
    assert 'same final parameters' in rs['reason']
    assert rs['diff_over_moved'] > 100 * rs['tolerance']['diff_over_moved']
    # the first iteration after the checkpoint only needs the weights
    assert rs['loss_rel_diffs'][0] <= rs['tolerance']['loss_rel_diff']
    assert result['summary']['ok'] is False


def _sabotaged_block_inputs(perturb: bool):
    """``block_inputs`` whose NCHW stream also scales the first block's
    input (``perturb``) or stays as the model makes it."""
    real = gpu_check.block_inputs

    @contextlib.contextmanager
    def block_inputs(model, contiguous, layouts=None):
        if not (contiguous and perturb):
            # without perturb, the NCHW stream stays as the model makes it
            with real(model, False, layouts):
                yield
            return
        first = next(m for m in model.modules()
                     if isinstance(m, UniRepLKNetBlock))
        handle = first.register_forward_pre_hook(
            lambda module, args: (args[0] * 1.01, ))
        try:
            with real(model, contiguous, layouts):
                yield
        finally:
            handle.remove()

    return block_inputs


@pytest.mark.timeout(120)
@pytest.mark.parametrize('perturb', [True, False])
def test_layout_check_fails_on_a_difference(monkeypatch, perturb):
    """The layout comparison fails when the NCHW stream changes the
    values, or when it does not feed the blocks NCHW tensors."""
    monkeypatch.setattr(gpu_check, 'block_inputs',
                        _sabotaged_block_inputs(perturb))
    settings = dict(gpu_check.check_settings(dry_run=True),
                    layout_variants=[])
    cmp = gpu_check.layout_check('cpu', settings)['comparison']
    assert cmp['status'] == 'failed'
    if perturb:
        assert cmp['reason'] == 'outputs or gradients differ'
        assert cmp['outputs_max_rel_err'] > LAYOUT_TOLERANCES['outputs']
    else:
        assert 'the NCHW stream fed the blocks' in cmp['reason']
        assert cmp['nchw_stream_is_nchw'] is False
