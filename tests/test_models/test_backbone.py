# Copyright (c) mmunireplk contributors. All rights reserved.
import re

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.nn.modules.batchnorm import _BatchNorm

from mmunireplk.models import UniRepLKNet
from mmunireplk.models.layers import DRB_BRANCHES
from tests.helpers import randomize_bn_and_scales

ALL_ARCHS = ['atto', 'femto', 'pico', 'nano', 'tiny', 'small', 'base',
             'large', 'xlarge']

# Written from the architecture spec's table, independently of the code.
SPEC = {
    'atto': ((2, 2, 6, 2), (40, 80, 160, 320)),
    'femto': ((2, 2, 6, 2), (48, 96, 192, 384)),
    'pico': ((2, 2, 6, 2), (64, 128, 256, 512)),
    'nano': ((2, 2, 8, 2), (80, 160, 320, 640)),
    'tiny': ((3, 3, 18, 3), (80, 160, 320, 640)),
    'small': ((3, 3, 27, 3), (96, 192, 384, 768)),
    'base': ((3, 3, 27, 3), (128, 256, 512, 1024)),
    'large': ((3, 3, 27, 3), (192, 384, 768, 1536)),
    'xlarge': ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
# Paper's ImageNet table: params in millions, and the decimals it shows.
PAPER_PARAMS = {
    'atto': (4.4, 1), 'femto': (6.2, 1), 'pico': (10.7, 1),
    'nano': (18.3, 1), 'tiny': (31, 0), 'small': (56, 0), 'base': (98, 0),
    'large': (218, 0), 'xlarge': (386, 0)
}  # yapf: disable


def spec_kernels(arch):
    depths, _ = SPEC[arch]
    if arch in ('atto', 'femto', 'pico', 'nano'):
        stage3 = [13] * depths[2]
    elif arch == 'tiny':
        stage3 = [13, 3] * 9
    else:
        stage3 = [13, 3, 3] * 9
    return [[3] * depths[0], [13] * depths[1], stage3, [13] * depths[3]]


def spec_training_keys(arch, out_indices=(0, 1, 2, 3)):
    """Every state-dict key of the training form, from the spec alone."""
    depths, _ = SPEC[arch]
    keys = set()
    bn = ('weight', 'bias', 'running_mean', 'running_var',
          'num_batches_tracked')
    for i in (0, 1, 3, 4):
        keys |= {f'downsample_layers.0.{i}.weight',
                 f'downsample_layers.0.{i}.bias'}
    for s in (1, 2, 3):
        for i in (0, 1):
            keys |= {f'downsample_layers.{s}.{i}.weight',
                     f'downsample_layers.{s}.{i}.bias'}
    for s, kernels in enumerate(spec_kernels(arch)):
        assert len(kernels) == depths[s]
        for j, k in enumerate(kernels):
            p = f'stages.{s}.{j}.'
            if k >= 7:
                keys.add(p + 'dwconv.lk_origin.weight')
                keys |= {p + f'dwconv.origin_bn.{n}' for n in bn}
                for bk, r in zip(*DRB_BRANCHES[k]):
                    keys.add(p + f'dwconv.dil_conv_k{bk}_{r}.weight')
                    keys |= {p + f'dwconv.dil_bn_k{bk}_{r}.{n}' for n in bn}
            else:
                keys.add(p + 'dwconv.weight')
            keys |= {p + f'norm.{n}' for n in bn}
            keys |= {p + f'se.{c}.{n}' for c in ('down', 'up')
                     for n in ('weight', 'bias')}
            keys |= {p + 'pwconv1.1.weight', p + 'pwconv1.1.bias',
                     p + 'act.1.gamma', p + 'act.1.beta',
                     p + 'pwconv2.0.weight', p + 'gamma'}
            keys |= {p + f'pwconv2.2.{n}' for n in bn}
    for i in out_indices:
        keys |= {f'norm{i}.weight', f'norm{i}.bias'}
    return keys


def build_meta(**kwargs) -> UniRepLKNet:
    with torch.device('meta'):
        return UniRepLKNet(**kwargs)


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_state_dict_keys_follow_the_spec(arch):
    model = build_meta(arch=arch)
    assert set(model.state_dict()) == spec_training_keys(arch)
    depths, dims = SPEC[arch]
    assert model.depths == depths and model.dims == dims
    assert model.state_dict()['downsample_layers.0.0.weight'].shape == (
        dims[0] // 2, 3, 3, 3)
    assert model.state_dict()['stages.3.0.act.1.gamma'].shape == (
        1, 1, 1, 4 * dims[3])


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_param_count_matches_paper(arch):
    """Deploy form + a 1000-class LN + linear head, as in the paper's table.

    The classifier's LN has the size of ``norm3``, so the backbone with
    ``out_indices=(3,)`` plus a linear head is exactly the classifier.
    """
    model = build_meta(arch=arch, out_indices=(3, ), deploy=True)
    head = nn.Linear(model.dims[3], 1000, device='meta')
    total = sum(p.numel() for p in model.parameters())
    total += sum(p.numel() for p in head.parameters())
    paper, decimals = PAPER_PARAMS[arch]
    if arch == 'xlarge':
        # 386.53M: the paper prints it truncated (every other arch rounds,
        # e.g. small 55.65M -> 56M), so compare the truncated value.
        assert int(total / 1e6) == paper, total
    else:
        assert round(total / 1e6, decimals) == paper, total


@pytest.mark.parametrize('arch', [
    pytest.param(arch, marks=pytest.mark.slow)
    if arch in ('large', 'xlarge') else arch for arch in ALL_ARCHS
])
def test_reparam_equivalence_every_arch(arch):
    torch.manual_seed(0)
    model = UniRepLKNet(arch=arch)
    randomize_bn_and_scales(model, seed=1)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        model.switch_to_deploy()
        after = model(x)
    for a, b in zip(after, before):
        assert ((a - b).abs().max() / b.abs().max()).item() < 1e-5
    assert set(model.state_dict()) == set(
        build_meta(arch=arch, deploy=True).state_dict())


def test_deploy_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = UniRepLKNet(arch='atto', drop_path_rate=0.1)
    model.init_weights()
    randomize_bn_and_scales(model)
    model.eval()
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        expected = model(x)
    model.switch_to_deploy()
    model.switch_to_deploy()  # idempotent
    path = tmp_path / 'deploy.pth'
    torch.save(model.state_dict(), path)

    deploy = UniRepLKNet(arch='atto', deploy=True)
    deploy.load_state_dict(torch.load(path), strict=True)
    deploy.eval()
    with torch.no_grad():
        for a, b in zip(deploy(x), expected):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    # No block BN and no layer scale survive; GRN keeps only its gamma.
    keys = deploy.state_dict()
    assert not any(re.fullmatch(r'stages\.\d+\.\d+\.(gamma|norm\..*)', k)
                   or k.endswith('act.1.beta') for k in keys)
    assert 'stages.0.0.act.1.gamma' in keys


@pytest.mark.parametrize('size,expected', [
    ((224, 224), [(56, 56), (28, 28), (14, 14), (7, 7)]),
    ((97, 131), [(25, 33), (13, 17), (7, 9), (4, 5)]),
    ((32, 32), [(8, 8), (4, 4), (2, 2), (1, 1)]),
])
def test_output_shapes(size, expected):
    model = UniRepLKNet(arch='atto')
    model.eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [tuple(o.shape[2:]) for o in outs] == expected
    assert [o.shape[1] for o in outs] == [40, 80, 160, 320]


@pytest.mark.parametrize('form', ['train', 'eval', 'deploy', 'with_cp'])
def test_outputs_are_contiguous_nchw(form):
    """Necks keep their input's memory layout, and ops that index raw NCHW
    memory (mmcv's RoIAlign) read channels-last strided maps wrongly, so
    every output must be a plain contiguous NCHW tensor."""
    model = UniRepLKNet(arch='atto', with_cp=form == 'with_cp')
    model.init_weights()
    if form == 'deploy':
        model.switch_to_deploy()
    model.train(form in ('train', 'with_cp'))
    x = torch.randn(2, 3, 64, 96, requires_grad=form == 'with_cp')
    with torch.set_grad_enabled(form in ('train', 'with_cp')):
        outs = model(x)
    assert all(o.is_contiguous() for o in outs)


def test_tiny_stage4_maps_stay_finite():
    """384x128 inputs give a 12x4 stage-4 map, far below 13x13."""
    model = UniRepLKNet(arch='atto')
    model.init_weights()
    randomize_bn_and_scales(model)
    for mode in (True, False):
        model.train(mode)
        outs = model(torch.randn(2, 3, 384, 128))
        assert outs[3].shape[2:] == (12, 4)
        assert all(torch.isfinite(o).all() for o in outs)


def test_out_indices():
    model = UniRepLKNet(arch='atto', out_indices=(1, -1))
    assert model.out_indices == (1, 3)
    assert hasattr(model, 'norm1') and hasattr(model, 'norm3')
    assert not hasattr(model, 'norm0') and not hasattr(model, 'norm2')
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [80, 320]
    with pytest.raises(ValueError, match='out_indices'):
        UniRepLKNet(arch='atto', out_indices=(4, ))


def test_arch_names_aliases_and_custom():
    assert build_meta(arch='xl').dims == SPEC['xlarge'][1]
    assert build_meta(arch='T').depths == SPEC['tiny'][0]
    custom = build_meta(arch=dict(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64),
                                  kernel_sizes=((3, ), (5, ), (7, 3), (13, ))))
    assert custom.kernel_sizes == ((3, ), (5, ), (7, 3), (13, ))
    with pytest.raises(ValueError, match="'atto'.*'xl'"):
        UniRepLKNet(arch='huge')
    with pytest.raises(ValueError, match='depths'):
        UniRepLKNet(arch=dict(dims=(8, 16, 32, 64)))
    with pytest.raises(ValueError, match='kernel_sizes'):
        UniRepLKNet(arch=dict(depths=(1, 1, 1, 1), dims=(8, 16, 32, 64)))


def test_kernel_sizes_are_validated():
    with pytest.raises(ValueError, match='one kernel per block'):
        UniRepLKNet(arch='atto', kernel_sizes=((3, 3), (13, 13), (13, ),
                                               (13, 13)))
    with pytest.raises(ValueError, match='kernel sizes'):
        UniRepLKNet(arch='atto', kernel_sizes=((3, 3), (13, 13), (13, ) * 6,
                                               (13, 12)))
    model = build_meta(arch='atto', kernel_sizes=((3, 3), (5, 5), (17, ) * 6,
                                                  (7, 7)))
    assert set(DRB_BRANCHES[17][0]) >= {5, 9}
    assert 'stages.2.0.dwconv.dil_conv_k9_2.weight' in model.state_dict()
    assert 'stages.1.0.dwconv.weight' in model.state_dict()


def _bn_modes(module):
    return {m.training for m in module.modules() if isinstance(m, _BatchNorm)}


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages(frozen_stages):
    model = UniRepLKNet(arch='atto', frozen_stages=frozen_stages)
    model.train()
    frozen = [model.downsample_layers[0]]
    for i in range(frozen_stages):
        frozen += [model.downsample_layers[i], model.stages[i],
                   getattr(model, f'norm{i}')]
    frozen_ids = {id(p) for m in frozen for p in m.parameters()}
    for name, param in model.named_parameters():
        assert param.requires_grad == (id(param) not in frozen_ids), name
    for i in range(4):
        assert _bn_modes(model.stages[i]) == {i >= frozen_stages}

    # A training step changes nothing that is frozen, BN stats included.
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    loss = sum(o.sum() for o in model(torch.randn(2, 3, 64, 64)))
    assert loss.requires_grad == bool(trainable)
    if trainable:
        loss.backward()
        torch.optim.SGD(trainable, lr=1.).step()
    after = model.state_dict()
    for stage in range(4):
        changed = any(not torch.equal(before[k], after[k]) for k in before
                      if k.startswith(f'stages.{stage}.'))
        assert changed == (stage >= frozen_stages)
    assert torch.equal(before['downsample_layers.0.0.weight'],
                       after['downsample_layers.0.0.weight'])


def test_frozen_stages_is_validated():
    with pytest.raises(ValueError, match='frozen_stages'):
        UniRepLKNet(arch='atto', frozen_stages=5)


def test_norm_eval_keeps_bn_in_eval():
    model = UniRepLKNet(arch='atto', norm_eval=True)
    model.train()
    assert _bn_modes(model) == {False}
    assert model.norm0.training and model.stages[0][0].se.training
    before = model.stages[2][0].norm.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(model.stages[2][0].norm.running_mean, before)


def test_with_cp_same_outputs_and_gradients(monkeypatch):
    import torch.utils.checkpoint as cp
    calls = []
    real_checkpoint = cp.checkpoint

    def counting_checkpoint(*args, **kwargs):
        calls.append(1)
        return real_checkpoint(*args, **kwargs)

    monkeypatch.setattr(cp, 'checkpoint', counting_checkpoint)
    torch.manual_seed(0)
    plain = UniRepLKNet(arch='atto')
    randomize_bn_and_scales(plain)
    ckpt = UniRepLKNet(arch='atto', with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    results = []
    for model in (plain, ckpt):
        model.train()
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1),
                        requires_grad=True)
        outs = model(x)
        sum((o * o).mean() for o in outs).backward()
        results.append((outs, x.grad, {n: p.grad for n, p in
                                       model.named_parameters()}))
    assert len(calls) == sum(ckpt.depths)
    (outs_a, gx_a, grads_a), (outs_b, gx_b, grads_b) = results
    for a, b in zip(outs_a, outs_b):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(gx_a, gx_b, atol=1e-6)
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-6,
                              rtol=1e-4), name


def test_sync_bn_switch():
    plain = UniRepLKNet(arch='atto')
    sync = UniRepLKNet(arch='atto', use_sync_bn=True)
    num_bn = sum(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert num_bn > 0
    assert sum(isinstance(m, nn.SyncBatchNorm)
               for m in sync.modules()) == num_bn
    assert not any(isinstance(m, nn.BatchNorm2d) for m in sync.modules())
    assert set(sync.state_dict()) == set(plain.state_dict())
    sync.load_state_dict(plain.state_dict())
    randomize_bn_and_scales(sync)
    sync.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = sync(x)
        sync.switch_to_deploy()
        after = sync(x)
    for a, b in zip(after, before):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_get_layer_depth_rule():
    model = build_meta(arch='small')
    cases = {
        'backbone.downsample_layers.0.0.weight': 0,
        'backbone.stages.0.2.gamma': 1,
        'backbone.downsample_layers.1.1.bias': 2,
        'backbone.stages.1.0.dwconv.lk_origin.weight': 2,
        'backbone.downsample_layers.2.0.weight': 3,
        'backbone.stages.2.0.norm.weight': 3,
        'backbone.stages.2.5.se.up.weight': 4,
        'backbone.stages.2.26.act.1.gamma': 11,
        'backbone.downsample_layers.3.0.weight': 12,
        'backbone.stages.3.2.pwconv1.1.weight': 12,
        'backbone.norm2.weight': 13,
        'neck.lateral_convs.0.conv.weight': 13,
    }
    for name, layer_id in cases.items():
        assert model.get_layer_depth(name) == (layer_id, 14), name
    assert model.get_layer_depth('stages.2.17.gamma', prefix='',
                                 num_layers=9) == (8, 11)


@pytest.mark.timeout(60)
def test_out_indices_without_last_stage_train_only_what_they_output():
    """Stages after the last output are neither run nor trained: every
    trainable parameter gets a gradient (DDP needs that), while checkpoints
    of the full backbone still load key for key."""
    model = UniRepLKNet(arch='atto', out_indices=(0, 1, 2))
    model.init_weights()
    model.train()
    unused = [model.downsample_layers[3], model.stages[3]]
    for module in unused:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [40, 80, 160]
    sum(o.sum() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not no_grad
    full = UniRepLKNet(arch='atto', out_indices=(0, 1, 2, 3))
    result = model.load_state_dict(full.state_dict(), strict=False)
    assert not result.missing_keys
    assert result.unexpected_keys == ['norm3.weight', 'norm3.bias']
    model.load_state_dict(
        {k: v for k, v in full.state_dict().items()
         if not k.startswith('norm3.')}, strict=True)
    assert model.num_run_stages == 3
    assert UniRepLKNet(arch='atto', out_indices=(1, )).num_run_stages == 2


@pytest.mark.timeout(120)
def test_out_indices_without_last_stage_under_ddp(tmp_path):
    """DDP without ``find_unused_parameters`` runs two training steps of a
    backbone whose last stage is no output (it fails on the second step
    when a trainable parameter got no gradient in the first)."""
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0,
        world_size=1)
    try:
        model = DistributedDataParallel(
            UniRepLKNet(arch='atto', out_indices=(0, 1, 2)))
        for _ in range(2):
            outs = model(torch.randn(2, 3, 32, 32))
            sum(o.sum() for o in outs).backward()
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(60)
def test_checkpoint_key_knowledge_is_the_backbone_class():
    assert UniRepLKNet.is_backbone_key('stages.0.0.gamma')
    assert UniRepLKNet.is_backbone_key('norm3.weight')
    assert not UniRepLKNet.is_backbone_key('norm.weight')
    assert not UniRepLKNet.is_backbone_key('head.fc.weight')
    training = build_meta(arch='atto').state_dict()
    deploy = build_meta(arch='atto', deploy=True).state_dict()
    assert UniRepLKNet.state_dict_form(training) == 'training'
    assert UniRepLKNet.state_dict_form(deploy) == 'deploy'
    assert UniRepLKNet.state_dict_form({'x.weight': torch.zeros(1)}) is None
    arch = UniRepLKNet.infer_arch(deploy)['arch']
    assert (arch['depths'], arch['dims']) == SPEC['atto']
    model = UniRepLKNet(arch='atto')
    randomize_bn_and_scales(model)
    merged = UniRepLKNet.reparameterize_state_dict(model.state_dict())
    assert set(merged) == set(deploy)
    with pytest.raises(ValueError, match='already in the deploy form'):
        UniRepLKNet.reparameterize_state_dict(merged)
    with pytest.raises(RuntimeError, match='deploy=True'):
        UniRepLKNet.check_forms(training, deploy, 'the file')
    extracted = UniRepLKNet.extract_state_dict(
        {'state_dict': {'backbone.stages.0.0.gamma': torch.ones(1),
                        'backbone.norm.weight': torch.ones(1),
                        'neck.conv.weight': torch.ones(1)}})
    assert list(extracted) == ['stages.0.0.gamma']
