# Copyright (c) mmunireplk contributors. All rights reserved.
"""Smoke tests of the benchmark scripts (they are not timed tests)."""
import json

import pytest
import torch
import torch._inductor.config as inductor_config

from benchmark import (COMPILED_NAMES, build_benchmark_model, op_class,
                       peak_memory_mib)
from tests.test_perf.utils import argv, load_tool, tiny_upernet_config


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_benchmark_backbone(tmp_path):
    tool = load_tool('tools/analysis_tools/benchmark_backbone.py')
    out, png = tmp_path / 'bench.json', tmp_path / 'bench.png'
    with argv([
            '--arch', 'atto', '--models', 'unireplknet', 'unireplknet-deploy',
            'convnext', '--infer', '32x32x1', '--train',
            '64x64x2', '--threads', '1', '2', '--rounds', '1', '--warmup',
            '0', '--matmul-size', '256', '--out', out, '--plot', png
    ]):
        tool.main()
    result = json.loads(out.read_text())
    assert png.stat().st_size > 0
    assert result['machine']['cpu'] and result['machine']['torch']
    assert [run['threads'] for run in result['runs']] == [1, 2]
    run = result['runs'][0]
    (infer, ) = run['inference']
    assert set(infer['models']) == {
        'unireplknet', 'unireplknet-deploy', 'convnext'
    }
    for row in infer['models'].values():
        assert row['img_per_s'] > 0 and row['gflops_per_s'] > 0
        assert row['percent_of_peak'] > 0
    # The training form counts its extra re-parameterisable branches.
    assert infer['models']['unireplknet']['gmacs_per_img'] > \
        infer['models']['unireplknet-deploy']['gmacs_per_img']
    # the fast path's measured kernel choices are recorded per thread count
    assert run['kernel_choices']
    assert all(c['threads'] == 1 for c in run['kernel_choices'])
    (train, ) = run['training']
    assert set(train['models']) == {'unireplknet', 'convnext'}
    uni = train['models']['unireplknet']
    # Activation checkpointing must lower the peak memory of a step.
    assert 0 < uni['peak_mem_with_cp_mib'] < uni['peak_mem_mib']
    assert run['matmul_peak_gflops']['torch.mm'] > 0


@pytest.mark.timeout(120)
def test_compiled_models_are_built_compiled(monkeypatch):
    # --compile's models (compiling and timing them takes minutes on 2
    # cores, so the smoke test above leaves them out): compiled on the first
    # call; the tool's process-wide freezing is undone after the test
    monkeypatch.setattr(inductor_config, 'freezing', inductor_config.freezing)
    for name in COMPILED_NAMES:
        model = build_benchmark_model(name, 'atto')
        assert model._compiled_call_impl is not None, name


@pytest.mark.timeout(60)
def test_benchmark_backbone_rejects_bad_case():
    tool = load_tool('tools/analysis_tools/benchmark_backbone.py')
    with pytest.raises(ValueError, match='HxWxBATCH'):
        tool.parse_case('224x224')


@pytest.mark.timeout(300)
def test_benchmark_inference_segmentor(tmp_path, capsys):
    cfg = tiny_upernet_config()
    cfg.test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(96, 64), keep_ratio=True),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='PackSegInputs')
    ]
    cfg_path = str(tmp_path / 'upernet_atto.py')
    cfg.dump(cfg_path)
    out = tmp_path / 'inference.json'
    tool = load_tool('tools/analysis_tools/benchmark_inference.py')
    with argv([
            cfg_path, '--deploy', '--num-images', '2', '--warmup', '1',
            '--shape', '48', '80', '--out', out
    ]):
        tool.main()
    result = json.loads(out.read_text())
    assert result['task'] == 'seg' and result['deploy'] is True
    assert result['num_images'] == 2 and result['img_per_s'] > 0
    assert 'seg deploy form, 2 images' in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_op_classes():
    assert op_class('mkldnn::_linear_pointwise') == 'matmul'
    assert op_class('mkl::_mkl_linear') == 'matmul'
    assert op_class('aten::addmm') == 'matmul'
    assert op_class('aten::mkldnn_convolution') == 'conv'
    assert op_class('mkldnn::_convolution_pointwise') == 'conv'
    assert op_class('aten::native_layer_norm') == 'norm'
    assert op_class('aten::sum') == 'reduction'
    assert op_class('aten::copy_') == 'copy / layout'
    assert op_class('aten::gelu_') == 'element-wise'
    assert op_class('aten::view') == 'other'


@pytest.mark.timeout(60)
def test_cpu_peak_memory_replays_allocations_and_frees():
    """The CPU peak follows allocations and frees in time order: 4 MiB
    tensors alive together add up, ones freed in between do not."""
    def two_alive():
        a = torch.ones(1024, 1024)
        b = a * 2
        return float(b[0, 0])

    def one_at_a_time():
        for _ in range(3):
            torch.ones(1024, 1024)

    def three_alive():
        return [torch.ones(1024, 1024) for _ in range(3)]

    assert 7.9 < peak_memory_mib(two_alive, 'cpu') < 8.5
    assert 3.9 < peak_memory_mib(one_at_a_time, 'cpu') < 4.5
    assert 11.9 < peak_memory_mib(three_alive, 'cpu') < 12.5


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_profile_backbone(tmp_path, capsys):
    out = tmp_path / 'profile.json'
    tool = load_tool('tools/analysis_tools/profile_backbone.py')
    # training needs more than one value per BN channel on the 1/32 map
    for case, mode in (('32x32x1', []), ('64x64x2', ['--train'])):
        with argv(['--arch', 'atto', '--case', case, '--runs', '1', '--out',
                   out] + mode):
            tool.main()
        result = json.loads(out.read_text())
        assert result['mode'] == ('forward+backward' if mode else 'inference')
        uni = result['profiles'][
            'unireplknet' if mode else 'unireplknet-deploy']
        assert len(result['profiles']) == (3 if mode else 2)
        assert uni['matmul']['ms'] > 0 and uni['matmul']['gmacs'] > 0
        assert uni['conv']['gflops_per_s'] > 0
        assert abs(sum(r['share'] for r in uni.values()) - 1) < 1e-6
    assert 'matmul' in capsys.readouterr().out


@pytest.mark.timeout(120)
def test_depthwise_padding_tool(tmp_path):
    tool = load_tool('tools/analysis_tools/depthwise_padding.py')
    # a 13x13 kernel on a 7x7 map: every output sees all 7 rows/columns
    assert tool.taps_inside(7, 13) == pytest.approx(49 / 169)
    assert tool.taps_inside(5, 1) == 1
    out = tmp_path / 'pad.json'
    with argv([
            '--arch', 'atto', '--size', '64', '--rounds', '1', '--out', out
    ]):
        tool.main()
    result = json.loads(out.read_text())
    # atto: 13x13 blocks in stages 1-3, maps of 8, 4 and 2
    assert [s['map'] for s in result['stages']] == [8, 4, 2]
    for stage in result['stages']:
        assert stage['ms'] > 0 and 0 < stage['taps_inside'] < 1
        assert stage['padding_free_bound_ms'] < stage['ms']
    assert 0 < result['max_saving_ms'] < result['total_ms']
