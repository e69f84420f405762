# Copyright (c) mmunireplk contributors. All rights reserved.
"""The fast CPU path of the deploy form: same outputs whatever kernels it
chooses, used when it applies, and kernel choices made by measurement."""
import copy
import time

import pytest
import torch

from mmunireplk.analysis.complexity import count_flops
from mmunireplk.models import prepare_for_inference
from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers import UniRepLKNetBlock, cpu_fast_path
from mmunireplk.models.layers import cpu_inference
from mmunireplk.models.layers.cpu_inference import (KERNEL_CANDIDATES,
                                                    KERNELS, KernelChooser,
                                                    cpu_kernel_choices,
                                                    cpu_kernel_override)
from tests.helpers import randomize_bn_and_scales
from tests.test_perf.utils import rel_err


def _deploy_pair(dim: int, kernel_size: int, seed: int = 0):
    torch.manual_seed(seed)
    block = UniRepLKNetBlock(dim, kernel_size)
    randomize_bn_and_scales(block, seed)
    block.eval()
    deploy = copy.deepcopy(block)
    deploy.reparameterize()
    return block, deploy


def _backbone_pair(seed: int = 0):
    torch.manual_seed(seed)
    model = UniRepLKNet('atto', out_indices=(0, 1, 2, 3))
    randomize_bn_and_scales(model, seed)
    model.eval()
    return model, copy.deepcopy(model).switch_to_deploy()


def _linear_calls(block: UniRepLKNetBlock, x: torch.Tensor) -> int:
    """How often the block's first Linear module is called for ``x``."""
    calls = []
    handle = block.pwconv1[1].register_forward_hook(
        lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            block(x)
    finally:
        handle.remove()
    return len(calls)


@pytest.mark.parametrize('kernel_size', [3, 13])
@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('channels_last', [False, True])
def test_fast_path_matches_training_form(kernel_size, batch, channels_last):
    block, deploy = _deploy_pair(16, kernel_size, seed=kernel_size + batch)
    x = torch.randn(batch, 16, 11, 14)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = block(x)
        fast = deploy(x)
        with cpu_fast_path(False):
            plain = deploy(x)
    assert _linear_calls(deploy, x) == 0  # the fast path really ran
    with cpu_fast_path(False):
        assert _linear_calls(deploy, x) == 1
    assert fast.shape == expected.shape
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert rel_err(fast, expected) < 1e-5
    assert rel_err(fast, plain) < 1e-5


@pytest.mark.parametrize(
    'op, name', [(op, name) for op, names in KERNEL_CANDIDATES.items()
                 for name in names])
def test_every_kernel_choice_matches_training_form(op, name):
    """Each candidate, forced, gives the training form's eval outputs."""
    if op == 'linear' and \
            not cpu_inference.linear_kernel_available(name):
        pytest.skip(f'{name} is not in this torch build')
    model, deploy = _backbone_pair(seed=3)
    x = torch.randn(2, 3, 64, 80)
    KERNELS.used.clear()
    with torch.inference_mode():
        expected = model(x)
        with cpu_kernel_override(**{op: name}):
            got = deploy(x)
    assert KERNELS.used[op, name] > 0
    others = [n for n in KERNEL_CANDIDATES[op] if n != name]
    assert all(KERNELS.used[op, n] == 0 for n in others)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and a.is_contiguous()
        assert rel_err(a, b) < 1e-5


def test_aten_only_build(monkeypatch):
    """Without oneDNN's and MKL's packed kernels the ATen one is used."""
    monkeypatch.setattr(cpu_inference, '_AVAILABLE', {
        'aten': True,
        'onednn_packed': False,
        'mkl_packed': False
    })
    model, deploy = _backbone_pair(seed=1)
    x = torch.randn(1, 3, 48, 40)
    KERNELS.used.clear()
    with torch.inference_mode():
        expected, got = model(x), deploy(x)
    assert KERNELS.used['linear', 'aten'] > 0
    assert KERNELS.used['linear', 'onednn_packed'] == 0
    for a, b in zip(got, expected):
        assert rel_err(a, b) < 1e-5


def test_kernel_chooser_measures_once_and_keeps_the_fastest():
    chooser = KernelChooser(rounds=2)
    calls = {'slow': 0, 'fast': 0}

    def slow():
        calls['slow'] += 1
        time.sleep(0.01)

    def fast():
        calls['fast'] += 1

    candidates = dict(slow=slow, fast=fast)
    assert chooser.choose('op', (4, 5), candidates) == 'fast'
    assert calls == {'slow': 3, 'fast': 3}  # 1 untimed + 2 timed each
    assert chooser.choose('op', (4, 5), candidates) == 'fast'
    assert calls == {'slow': 3, 'fast': 3}  # cached: not measured again
    (entry, ) = chooser.choices()
    assert entry['op'] == 'op' and entry['shape_class'] == [4, 5]
    assert entry['threads'] == torch.get_num_threads()
    assert entry['seconds']['slow'] > entry['seconds']['fast']
    with chooser.override(op='slow'):
        assert chooser.choose('op', (4, 5), candidates) == 'slow'
    assert chooser.used['op', 'fast'] == 2 and chooser.used['op', 'slow'] == 1
    # another shape class is measured on its own
    chooser.choose('op', (8, 5), candidates)
    assert len(chooser.choices()) == 2
    chooser.reset()
    assert chooser.choices() == []


def test_kernel_chooser_time_bound():
    chooser = KernelChooser(rounds=50, max_seconds=0.02)
    calls = []
    chooser.choose('op', (), dict(a=lambda: time.sleep(0.01),
                                  b=lambda: calls.append(1)))
    assert len(calls) < 10  # stopped after the time budget, not 50 rounds


def test_unknown_override_is_refused():
    with pytest.raises(ValueError, match='linear=.bogus.'):
        cpu_kernel_override(linear='bogus')
    with pytest.raises(ValueError, match='depthwise_conv'):
        cpu_kernel_override(depthwise='nchw')


def test_choices_are_reported():
    _, deploy = _backbone_pair()
    with torch.inference_mode():
        deploy(torch.randn(1, 3, 32, 32))
    ops = {c['op'] for c in cpu_kernel_choices()}
    assert {'linear', 'depthwise_conv', 'dense_conv'} <= ops


@pytest.mark.parametrize('linear', ['onednn_packed', 'mkl_packed'])
def test_packed_weights_follow_weight_changes(linear):
    """Packed copies of the weights are refreshed after load_state_dict and
    in-place updates: never a stale result."""
    if not cpu_inference.linear_kernel_available(linear):
        pytest.skip(f'{linear} is not in this torch build')
    _, first = _backbone_pair(seed=0)
    _, second = _backbone_pair(seed=1)
    x = torch.randn(1, 3, 40, 48)
    override = cpu_kernel_override(linear=linear, dense_conv='onednn_packed')
    with torch.no_grad(), override:
        first(x)  # packs the first model's weights
        first.load_state_dict(second.state_dict())
        got = first(x)
        with cpu_fast_path(False):
            expected = second(x)
        for a, b in zip(got, expected):
            assert rel_err(a, b) < 1e-5
        for p in first.parameters():
            p.mul_(0.5)
        with cpu_fast_path(False):
            expected = first(x)
        for a, b in zip(first(x), expected):
            assert rel_err(a, b) < 1e-5


def test_model_built_in_inference_mode():
    """Inference tensors have no version counter; packing still works."""
    with torch.inference_mode():
        model = UniRepLKNet('atto').switch_to_deploy().eval()
        x = torch.randn(1, 3, 32, 32)
        with cpu_kernel_override(linear='onednn_packed'):
            fast = model(x)
        with cpu_fast_path(False):
            plain = model(x)
    for a, b in zip(fast, plain):
        assert rel_err(a, b) < 1e-5


def test_fast_path_not_used_with_autograd():
    """Gradients of a deploy model flow: the non-differentiable path is
    skipped when parameters or inputs require grad."""
    _, deploy = _deploy_pair(8, 13)
    x = torch.randn(1, 8, 9, 10)
    out = deploy(x)
    assert out.grad_fn is not None
    out.sum().backward()
    assert deploy.pwconv1[1].weight.grad is not None
    for p in deploy.parameters():
        p.requires_grad_(False)
    x.requires_grad_(True)
    deploy(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert _linear_calls(deploy, torch.randn(1, 8, 9, 10)) == 0


def test_fast_path_only_for_float32_cpu():
    x = torch.randn(1, 4, 5, 5)
    assert cpu_inference.use_cpu_fast_path(x)
    assert not cpu_inference.use_cpu_fast_path(x.double())
    assert not cpu_inference.use_cpu_fast_path(x.to('meta'))
    w = torch.nn.Parameter(torch.ones(1))
    assert not cpu_inference.use_cpu_fast_path(x, w)
    with torch.no_grad():
        assert cpu_inference.use_cpu_fast_path(x, w)
    with cpu_fast_path(False):
        assert not cpu_inference.use_cpu_fast_path(x)
    assert cpu_inference.use_cpu_fast_path(x)


def test_deploy_backbone_equals_training_form():
    model, deploy = _backbone_pair()
    x = torch.randn(2, 3, 72, 88)
    with torch.inference_mode():
        expected = model(x)
        got = deploy(x)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert a.is_contiguous()  # NCHW, as RoIAlign & co. read it
        assert rel_err(a, b) < 1e-5


def test_prepare_for_inference():
    model, _ = _backbone_pair(seed=2)
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        expected = model(x)
    wrapper = torch.nn.Sequential(model.train())  # as inside a detector
    assert prepare_for_inference(wrapper) is wrapper
    assert model.deploy and not model.training
    assert not any(p.requires_grad for p in wrapper.parameters())
    KERNELS.used.clear()
    got = model(x)  # grad mode on: the parameters no longer need it
    assert sum(n for (op, _), n in KERNELS.used.items()
               if op == 'linear') > 0  # the fast path ran
    for a, b in zip(got, expected):
        assert rel_err(a, b) < 1e-5
    with pytest.raises(ValueError, match='contains no UniRepLKNet'):
        prepare_for_inference(torch.nn.Linear(2, 2))


@pytest.mark.slow
def test_prepare_for_inference_compiled():
    """Compiled, the deploy blocks run the fast path as one op each (its
    kernel choices are used) and the outputs equal the training form's."""
    model, deploy = _backbone_pair(seed=4)
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        expected = model(x)
        compiled = prepare_for_inference(model, compile=True)
        compiled(x)  # compiles; kernel choices are measured here
        KERNELS.used.clear()
        got = compiled(x)
    assert model.deploy
    assert KERNELS.used['block_batching', 'batched'] + \
        KERNELS.used['block_batching', 'per_sample'] == sum(
            len(stage) for stage in model.stages)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert rel_err(a, b) < 1e-5
    # FLOP counting hooks see every module of the compiled model (run
    # eagerly) and trigger no further compilation.
    graphs = torch._dynamo.utils.counters['stats']['unique_graphs']
    macs, _ = count_flops(compiled, lambda: compiled(x))
    assert macs == count_flops(deploy, lambda: deploy(x))[0] > 0
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] == graphs


@pytest.mark.parametrize('kernel_size, batch', [(3, 1), (13, 2)])
def test_deploy_block_op(kernel_size, batch):
    """The compiled graphs' block op: its fake (meta) version gives the
    shape and strides of the real one (torch.library.opcheck), and it
    equals the training-form block."""
    block, deploy = _deploy_pair(8, kernel_size, seed=batch)
    x = torch.randn(batch, 8, 9, 10)
    args = (x, *cpu_inference.deploy_block_weights(deploy))
    with torch.no_grad():
        torch.library.opcheck(
            torch.ops.mmunireplk.deploy_block_cpu.default,
            args,
            test_utils=('test_schema', 'test_faketensor'))
        got = torch.ops.mmunireplk.deploy_block_cpu(*args)
        assert rel_err(got, block(x)) < 1e-5


def test_export_keeps_standard_ops():
    """torch.export of a deploy model records standard ops, not the
    fast path's block op (which exists for torch.compile only)."""
    _, deploy = _backbone_pair(seed=6)
    for p in deploy.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 32, 32)
    exported = torch.export.export(deploy, (x, ))
    targets = {str(node.target) for node in exported.graph.nodes}
    assert not any('mmunireplk' in t for t in targets)
    assert any('conv2d' in t for t in targets)
    with torch.no_grad():
        for a, b in zip(exported.module()(x), deploy(x)):
            assert rel_err(a, b) < 1e-5


def test_release_packed_weights_after_data_writes():
    """``.data`` writes bypass the version counter; releasing the packs
    makes the next call pack the new weights."""
    _, deploy = _backbone_pair(seed=5)
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad(), cpu_kernel_override(linear='onednn_packed',
                                              dense_conv='onednn_packed'):
        deploy(x)
        for p in deploy.parameters():
            p.data.mul_(0.5)
        cpu_inference.release_packed_weights()
        got = deploy(x)
        with cpu_fast_path(False):
            expected = deploy(x)
    for a, b in zip(got, expected):
        assert rel_err(a, b) < 1e-5


def test_packed_kernels_available_where_the_build_has_them():
    """The skips above only apply to torch builds without oneDNN / MKL:
    where the build has them, the probes must find the kernels."""
    assert cpu_inference.linear_kernel_available('aten')
    if torch.backends.mkldnn.is_available():
        assert cpu_inference.linear_kernel_available('onednn_packed')
    if torch.backends.mkl.is_available():
        assert cpu_inference.linear_kernel_available('mkl_packed')
