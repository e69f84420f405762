# Copyright (c) mmunireplk contributors. All rights reserved.
"""The opt-in CPU kernels of the deploy form (:mod:`mmunireplk.deploy`):
same outputs as the training form whatever kernels they choose, used only
where they apply, kernel choices made by measurement, and a missing private
kernel left out with a log message."""
import copy
import subprocess
import sys
import time

import pytest
import torch
import torch._inductor.compile_fx as compile_fx
import torch._inductor.config as inductor_config

from mmunireplk.deploy import (KERNEL_CANDIDATES, CPUKernels, KernelBlock,
                               KernelChooser, KernelConv2d,
                               attach_cpu_kernels, cpu_kernels_of,
                               detach_cpu_kernels, kernel_available,
                               prepare_for_inference)
from mmunireplk.deploy import cpu_kernels as cpu_kernels_module
from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers import UniRepLKNetBlock
from tests.helpers import REPO, randomize_bn_and_scales
from tests.test_perf.utils import rel_err


def _deploy_pair(dim: int, kernel_size: int, seed: int = 0):
    torch.manual_seed(seed)
    block = UniRepLKNetBlock(dim, kernel_size)
    randomize_bn_and_scales(block, seed)
    block.eval()
    deploy = copy.deepcopy(block)
    deploy.reparameterize()
    return block, deploy


#: A small arch with every kind of block (the kernel sizes of the stages),
#: for what compiles (inductor's time grows with the number of blocks).
SMALL_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32),
                  kernel_sizes=((3, ), (13, ), (13, 3), (7, )))


def _backbone_pair(seed: int = 0, arch='atto'):
    """A training-form backbone in eval mode and its deploy form, no
    grads."""
    torch.manual_seed(seed)
    model = UniRepLKNet(arch, out_indices=(0, 1, 2, 3))
    randomize_bn_and_scales(model, seed)
    model.eval()
    deploy = copy.deepcopy(model).switch_to_deploy()
    for p in deploy.parameters():
        p.requires_grad_(False)
    return model, deploy


def _module_calls(model: torch.nn.Module, module_type: type,
                  x: torch.Tensor) -> int:
    """How often modules of ``module_type`` in ``model`` run for ``x``."""
    calls = []
    handles = [
        m.register_forward_hook(lambda *args: calls.append(1))
        for m in model.modules() if isinstance(m, module_type)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return len(calls)


@pytest.mark.timeout(60)
@pytest.mark.parametrize('kernel_size', [3, 13])
@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('channels_last', [False, True])
def test_block_kernel_matches_training_form(kernel_size, batch,
                                            channels_last):
    block, deploy = _deploy_pair(16, kernel_size, seed=kernel_size + batch)
    x = torch.randn(batch, 16, 11, 14)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    kernels = CPUKernels()
    with torch.no_grad():
        expected = block(x)
        plain = deploy(x)
        fast = kernels.block(x, deploy.deploy_weights())
    assert fast.shape == expected.shape
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert rel_err(fast, expected) < 1e-5
    assert rel_err(fast, plain) < 1e-5


@pytest.mark.timeout(60)
def test_attached_kernels_run_and_match_training_form():
    model, deploy = _backbone_pair()
    x = torch.randn(2, 3, 72, 88)
    plain_linears = _module_calls(deploy, torch.nn.Linear, x)
    assert plain_linears == 2 * sum(model.depths)
    kernels = attach_cpu_kernels(deploy)
    # the fused path really runs: no Linear module is called any more
    assert _module_calls(deploy, torch.nn.Linear, x) == 0
    assert sum(n for (op, _), n in kernels.chooser.used.items()
               if op == 'linear') > 0
    with torch.inference_mode():
        expected = model(x)
        got = deploy(x)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert a.is_contiguous()  # NCHW, as RoIAlign & co. read it
        assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    'op, name', [(op, name) for op, names in KERNEL_CANDIDATES.items()
                 for name in names])
def test_every_kernel_choice_matches_training_form(op, name):
    """Each candidate, forced, gives the training form's eval outputs."""
    if not kernel_available(op, name):
        pytest.skip(f'{op}={name} is not in this torch build')
    model, deploy = _backbone_pair(seed=3)
    kernels = attach_cpu_kernels(deploy)
    x = torch.randn(2, 3, 64, 80)
    with torch.inference_mode():
        expected = model(x)
        with kernels.override(**{op: name}):
            got = deploy(x)
    assert kernels.chooser.used[op, name] > 0
    others = [n for n in KERNEL_CANDIDATES[op] if n != name]
    assert all(kernels.chooser.used[op, n] == 0 for n in others)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and a.is_contiguous()
        assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(60)
def test_packed_kernels_available_where_the_build_has_them():
    """The skips above only apply to torch builds without oneDNN / MKL:
    where the build has them, the probes must find the kernels."""
    assert kernel_available('linear', 'aten')
    if torch.backends.mkldnn.is_available():
        assert kernel_available('linear', 'onednn_packed')
        assert kernel_available('dense_conv', 'onednn_packed')
    if torch.backends.mkl.is_available():
        assert kernel_available('linear', 'mkl_packed')


@pytest.mark.timeout(60)
def test_missing_private_kernel_is_left_out_with_one_log(
        monkeypatch, mm_log):
    """A private kernel that a torch release changed or dropped is left out
    (with one warning naming it), and the ATen kernels give the same
    outputs."""

    def broken_probe():
        raise RuntimeError('no such op in this build')

    private = dict(cpu_kernels_module.PRIVATE_KERNELS)
    for key, (kernel, _) in private.items():
        private[key] = (kernel, broken_probe)
    monkeypatch.setattr(cpu_kernels_module, 'PRIVATE_KERNELS', private)
    monkeypatch.setattr(cpu_kernels_module, '_PROBED', {})
    model, deploy = _backbone_pair(seed=1)
    kernels = attach_cpu_kernels(deploy)
    attach_cpu_kernels(copy.deepcopy(deploy))  # probed once, logged once
    warnings = [m for m in mm_log if 'is not usable in torch' in m]
    assert len(warnings) == len(private)
    assert any('torch.ops.mkldnn._linear_pointwise' in m for m in warnings)
    assert kernels.available['linear'] == ('aten', )
    assert kernels.available['dense_conv'] == ('aten', )
    x = torch.randn(1, 3, 48, 40)
    with torch.inference_mode():
        expected, got = model(x), deploy(x)
    assert kernels.chooser.used['linear', 'aten'] > 0
    assert kernels.chooser.used['linear', 'onednn_packed'] == 0
    for a, b in zip(got, expected):
        assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(60)
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


@pytest.mark.timeout(60)
def test_kernel_chooser_time_bound():
    chooser = KernelChooser(rounds=50, max_seconds=0.02)
    calls = []
    chooser.choose('op', (), dict(a=lambda: time.sleep(0.01),
                                  b=lambda: calls.append(1)))
    assert len(calls) < 10  # stopped after the time budget, not 50 rounds


@pytest.mark.timeout(60)
def test_unknown_override_is_refused():
    kernels = CPUKernels()
    with pytest.raises(ValueError, match='linear=.bogus.'):
        kernels.override(linear='bogus')
    with pytest.raises(ValueError, match='depthwise_conv'):
        kernels.override(depthwise='nchw')


@pytest.mark.timeout(60)
def test_choices_are_reported_per_model():
    _, first = _backbone_pair()
    second = copy.deepcopy(first)
    kernels = attach_cpu_kernels(first)
    other = attach_cpu_kernels(second)
    with torch.inference_mode():
        first(torch.randn(1, 3, 32, 32))
    ops = {c['op'] for c in kernels.choices()}
    assert {'linear', 'depthwise_conv', 'dense_conv'} <= ops
    assert other.choices() == []  # no process-wide state between models


@pytest.mark.timeout(60)
@pytest.mark.parametrize('linear', ['onednn_packed', 'mkl_packed'])
def test_packed_weights_follow_weight_changes(linear):
    """Packed copies of the weights are refreshed after load_state_dict and
    in-place updates: never a stale result."""
    if not kernel_available('linear', linear):
        pytest.skip(f'{linear} is not in this torch build')
    _, first = _backbone_pair(seed=0)
    _, second = _backbone_pair(seed=1)
    plain = copy.deepcopy(second)
    kernels = attach_cpu_kernels(first)
    x = torch.randn(1, 3, 40, 48)
    dense = {'dense_conv': 'onednn_packed'} if kernel_available(
        'dense_conv', 'onednn_packed') else {}
    with torch.no_grad(), kernels.override(linear=linear, **dense):
        first(x)  # packs the first model's weights
        first.load_state_dict(second.state_dict())
        for a, b in zip(first(x), plain(x)):
            assert rel_err(a, b) < 1e-5
        for p in first.parameters():
            p.mul_(0.5)
        for p in plain.parameters():
            p.mul_(0.5)
        for a, b in zip(first(x), plain(x)):
            assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(60)
def test_release_after_data_writes():
    """``.data`` writes bypass the version counter; ``release()`` makes the
    next call pack the new weights."""
    _, deploy = _backbone_pair(seed=5)
    plain = copy.deepcopy(deploy)
    kernels = attach_cpu_kernels(deploy)
    x = torch.randn(1, 3, 32, 40)
    forced = {
        op: 'onednn_packed'
        for op in ('linear', 'dense_conv')
        if kernel_available(op, 'onednn_packed')
    }
    with torch.no_grad(), kernels.override(**forced):
        deploy(x)
        for module in (deploy, plain):
            for p in module.parameters():
                p.data.mul_(0.5)
        kernels.release()
        got = deploy(x)
        expected = plain(x)
    for a, b in zip(got, expected):
        assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(60)
def test_model_built_in_inference_mode():
    """Inference tensors have no version counter; packing still works."""
    with torch.inference_mode():
        model = UniRepLKNet('atto').switch_to_deploy().eval()
        plain = copy.deepcopy(model)
        kernels = attach_cpu_kernels(model)
        x = torch.randn(1, 3, 32, 32)
        with kernels.override(linear='onednn_packed'):
            fast = model(x)
        expected = plain(x)
    for a, b in zip(fast, expected):
        assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(60)
def test_kernels_not_used_with_autograd():
    """Gradients of a deploy model with kernels attached flow: the
    non-differentiable kernels are skipped when parameters or inputs
    require grad."""
    _, deploy = _backbone_pair(seed=2)
    for p in deploy.parameters():
        p.requires_grad_(True)
    kernels = attach_cpu_kernels(deploy)
    x = torch.randn(1, 3, 32, 32)
    sum(o.sum() for o in deploy(x)).backward()
    assert deploy.stages[0][0].pwconv1[1].weight.grad is not None
    for p in deploy.parameters():
        p.requires_grad_(False)
    x.requires_grad_(True)
    sum(o.sum() for o in deploy(x)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not kernels.chooser.used  # the kernels never ran
    assert _module_calls(deploy, torch.nn.Linear,
                         torch.randn(1, 3, 32, 32)) == 0


@pytest.mark.timeout(60)
def test_kernels_apply_only_to_float32_cpu_without_autograd():
    applies = CPUKernels.applies
    x = torch.randn(1, 4, 5, 5)
    assert applies(x, ())
    assert not applies(x.double(), ())
    assert not applies(x.to('meta'), ())
    assert not applies(x[0], ())
    w = torch.nn.Parameter(torch.ones(1))
    assert not applies(x, (w, ))
    with torch.no_grad():
        assert applies(x, (w, ))


@pytest.mark.timeout(60)
def test_attach_keeps_the_model_and_detach_restores_it():
    _, deploy = _backbone_pair(seed=6)
    keys = {k: v.clone() for k, v in deploy.state_dict().items()}
    kernels = attach_cpu_kernels(deploy)
    blocks = [m for m in deploy.modules() if isinstance(m, UniRepLKNetBlock)]
    assert blocks and all(type(b) is KernelBlock for b in blocks)
    convs = [m for m in deploy.modules() if isinstance(m, KernelConv2d)]
    # the stem's two convs and three downsampling convs, not the depthwise
    # convs inside the blocks
    assert len(convs) == 5
    assert all(m.cpu_kernels is kernels for m in blocks + convs)
    assert cpu_kernels_of(deploy) is kernels
    assert deploy.state_dict().keys() == keys.keys()
    # copies share one fresh state, not the original's
    twin = copy.deepcopy(deploy)
    twin_kernels = cpu_kernels_of(twin)
    assert twin_kernels is not kernels and all(
        m.cpu_kernels is twin_kernels for m in twin.modules()
        if isinstance(m, (KernelBlock, KernelConv2d)))
    assert detach_cpu_kernels(deploy) is deploy
    assert all(type(b) is UniRepLKNetBlock for b in blocks)
    assert not any(isinstance(m, KernelConv2d) for m in deploy.modules())
    assert cpu_kernels_of(deploy) is None
    with pytest.raises(ValueError, match='switch_to_deploy'):
        attach_cpu_kernels(UniRepLKNet('atto'))
    with pytest.raises(ValueError, match='contains no UniRepLKNet'):
        attach_cpu_kernels(torch.nn.Linear(2, 2))


@pytest.mark.timeout(60)
def test_prepare_for_inference():
    model, _ = _backbone_pair(seed=2)
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        expected = model(x)
    wrapper = torch.nn.Sequential(model.train())  # as inside a detector
    assert prepare_for_inference(wrapper) is wrapper
    assert model.deploy and not model.training
    assert not any(p.requires_grad for p in wrapper.parameters())
    kernels = cpu_kernels_of(wrapper)
    assert kernels is not None
    got = model(x)  # grad mode on: the parameters no longer need it
    assert sum(n for (op, _), n in kernels.chooser.used.items()
               if op == 'linear') > 0  # the kernels ran
    for a, b in zip(got, expected):
        assert rel_err(a, b) < 1e-5
    plain = prepare_for_inference(copy.deepcopy(model), cpu_kernels=False)
    assert cpu_kernels_of(plain) is None
    with pytest.raises(ValueError, match='contains no UniRepLKNet'):
        prepare_for_inference(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match='exclude each other'):
        prepare_for_inference(model, cpu_kernels=True, compile=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_prepare_for_inference_compiled_is_scoped(monkeypatch):
    """Compiled, the deploy form equals the training form, and inductor's
    freezing applies to this compilation (its freezing compiler runs) without
    any process-wide setting changing."""
    freezing_compiles = []
    freezing_compiler = compile_fx.fw_compiler_freezing

    def counting_compiler(*args, **kwargs):
        freezing_compiles.append(1)
        return freezing_compiler(*args, **kwargs)

    monkeypatch.setattr(compile_fx, 'fw_compiler_freezing',
                        counting_compiler)
    freezing = inductor_config.freezing
    model, _ = _backbone_pair(seed=4, arch=SMALL_ARCH)
    x = torch.randn(2, 3, 32, 48)
    torch._dynamo.reset()
    with torch.no_grad():
        expected = model(x)
        compiled = prepare_for_inference(model, compile=True)
        assert cpu_kernels_of(compiled) is None
        got = compiled(x)
    assert model.deploy
    assert freezing_compiles
    assert inductor_config.freezing == freezing
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(120)
def test_export_keeps_standard_ops():
    """torch.export of a deploy model with the kernels attached records the
    plain deploy form's standard ops, no oneDNN / MKL kernel."""
    _, deploy = _backbone_pair(seed=6)
    plain = copy.deepcopy(deploy)
    attach_cpu_kernels(deploy)
    x = torch.randn(1, 3, 32, 32)
    exported = torch.export.export(deploy, (x, ))
    targets = {str(node.target) for node in exported.graph.nodes}
    assert not any('mkldnn' in t or 'mkl.' in t for t in targets), targets
    assert any('conv2d' in t for t in targets)
    assert any('linear' in t for t in targets)
    with torch.no_grad():
        for a, b in zip(exported.module()(x), plain(x)):
            assert rel_err(a, b) < 1e-5


@pytest.mark.timeout(120)
def test_import_mmunireplk_leaves_the_kernels_out():
    """The kernels are opt-in: ``import mmunireplk`` does not import
    them."""
    code = ('import sys, mmunireplk, mmunireplk.models; '
            'assert "mmunireplk.deploy" not in sys.modules')
    subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                   timeout=110)
