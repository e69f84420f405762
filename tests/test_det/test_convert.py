# Copyright (c) mmunireplk contributors. All rights reserved.
"""Shared conversion helpers and the reparameterize converter."""
import os
from collections import OrderedDict

import pytest
import torch

from mmunireplk.checkpoint import (ConversionReport, legacy_ema_key,
                                   reparameterize_checkpoint,
                                   save_checkpoint_atomic, upgrade_legacy_meta)
from mmunireplk.checkpoint.convert import (rename_keys,
                                           split_runner_checkpoint,
                                           take_ema_weights)
from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.backbones.unireplknet import infer_arch
from tests.helpers import randomize_bn_and_scales, run_tool

SMALL_ARCH = dict(
    depths=(1, 1, 2, 1),
    dims=(8, 16, 24, 32),
    kernel_sizes=((3, ), (13, ), (5, 11), (7, )))


def small_backbone(**kwargs) -> UniRepLKNet:
    model = UniRepLKNet(arch=SMALL_ARCH, **kwargs)
    randomize_bn_and_scales(model)
    return model.eval()


def test_split_and_legacy_ema():
    weights = OrderedDict(a=torch.zeros(2), b=torch.ones(3))
    state_dict = OrderedDict(weights)
    state_dict[legacy_ema_key('a')] = torch.full((2, ), 5.)
    state_dict['ema_b'] = torch.full((3, ), 7.)
    checkpoint = dict(state_dict=state_dict, optimizer={}, meta={})
    report = ConversionReport()
    sd, others = split_runner_checkpoint(checkpoint, report)
    assert set(others) == {'optimizer', 'meta'}
    assert report.count('dropped top-level entries') == 1  # meta is kept
    # default: keep the main weights, drop the buffers
    plain = take_ema_weights(sd, others, False, report)
    assert list(plain) == ['a', 'b'] and plain['a'].sum() == 0
    # --ema-buffers: the buffers replace the weights
    ema = take_ema_weights(sd, others, True, report)
    assert list(ema) == ['a', 'b']
    assert torch.equal(ema['a'], torch.full((2, ), 5.))
    assert torch.equal(ema['b'], torch.full((3, ), 7.))
    assert 'weights replaced by their EMA copy' in report.format()


def test_mmengine_ema_and_missing_ema():
    sd = OrderedDict(w=torch.zeros(2))
    others = dict(ema_state_dict={'steps': torch.tensor(3),
                                  'module.w': torch.ones(2)})
    assert torch.equal(take_ema_weights(sd, others, True)['w'], torch.ones(2))
    with pytest.raises(KeyError, match='no EMA weights'):
        take_ema_weights(sd, {}, True)
    with pytest.raises(ValueError, match='shape'):
        take_ema_weights(
            OrderedDict(w=torch.zeros(2), ema_w=torch.zeros(3)), None, True)


def test_rename_keys_and_collisions():
    report = ConversionReport()
    sd = OrderedDict([('module.a.x', torch.zeros(1)), ('b', torch.ones(1))])
    out = rename_keys(sd, [(r'^module\.', ''), (r'\.x$', '.y')], report)
    assert list(out) == ['a.y', 'b']
    assert report.sections['renamed keys'] == ['module.a.x -> a.y']
    with pytest.raises(KeyError, match='already exists'):
        rename_keys(sd, [(r'.*', 'same')])


def test_upgrade_legacy_meta():
    report = ConversionReport()
    meta = upgrade_legacy_meta(
        dict(CLASSES=('cat', 'dog'), PALETTE=[(1, 2, 3)], epoch=36,
             mmdet_version='2.28.1', config='long text', hook_msgs={}),
        report)
    assert meta == dict(
        dataset_meta=dict(classes=['cat', 'dog'], palette=[[1, 2, 3]]),
        epoch=36,
        source_mmdet_version='2.28.1')
    assert report.count('meta upgraded') == 2


def test_save_checkpoint_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / 'out.pth')
    save_checkpoint_atomic(dict(x=torch.ones(2)), path)
    assert torch.equal(torch.load(path, weights_only=True)['x'], torch.ones(2))

    def broken_save(obj, f):
        f.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        save_checkpoint_atomic(dict(x=torch.zeros(2)), path)
    monkeypatch.undo()
    # the old file is intact and no temporary file is left behind
    assert torch.equal(torch.load(path, weights_only=True)['x'], torch.ones(2))
    assert os.listdir(tmp_path) == ['out.pth']


def test_infer_arch_training_and_deploy():
    model = small_backbone(out_indices=(1, 3))
    expected = dict(
        arch=dict(
            depths=(1, 1, 2, 1),
            dims=(8, 16, 24, 32),
            kernel_sizes=((3, ), (13, ), (5, 11), (7, ))),
        in_channels=3,
        out_indices=(1, 3),
        layer_scale_init_value=1e-6,
        deploy=False)
    assert infer_arch(model.state_dict()) == expected
    deploy = small_backbone(out_indices=(1, 3)).switch_to_deploy()
    inferred = infer_arch(deploy.state_dict())
    assert inferred['arch'] == expected['arch'] and inferred['deploy']
    with pytest.raises(KeyError, match='not a UniRepLKNet'):
        infer_arch({'conv.weight': torch.zeros(1)})


@pytest.mark.parametrize('prefix', ['backbone.', ''])
def test_reparameterize_checkpoint(prefix):
    model = small_backbone()
    sd = OrderedDict((prefix + k, v) for k, v in model.state_dict().items())
    sd['neck.conv.weight'] = torch.ones(3)
    if not prefix:  # ImageNet checkpoints carry a classifier
        sd['head.weight'] = torch.ones(4, 32)
    report = ConversionReport()
    out = reparameterize_checkpoint(sd, report, prefix)['state_dict']
    assert torch.equal(out['neck.conv.weight'], torch.ones(3))
    assert prefix or torch.equal(out['head.weight'], torch.ones(4, 32))
    assert report.count('removed (folded) keys') > 0

    deploy = UniRepLKNet(arch=SMALL_ARCH, deploy=True).eval()
    deploy.load_state_dict(
        {k[len(prefix):]: v for k, v in out.items()
         if k.startswith(prefix) and not k.startswith(('neck', 'head'))},
        strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for ref, got in zip(model(x), deploy(x)):
            assert torch.allclose(ref, got, rtol=1e-4, atol=1e-5)

    with pytest.raises(ValueError, match='already in the deploy form'):
        reparameterize_checkpoint(out, report, prefix)
    with pytest.raises(KeyError, match='No UniRepLKNet key'):
        reparameterize_checkpoint(sd, report, 'detector.')


def test_reparameterize_cli(tmp_path):
    model = small_backbone()
    legacy = dict(
        state_dict=OrderedDict(
            ('backbone.' + k, v) for k, v in model.state_dict().items()),
        optimizer=dict(state={}, param_groups=[]),
        meta=dict(CLASSES=('a', 'b'), epoch=3))
    src, dst = str(tmp_path / 'train.pth'), str(tmp_path / 'deploy.pth')
    torch.save(legacy, src)
    result = run_tool(
        ['tools/model_converters/unireplknet_reparameterize.py', src, dst],
        check=True)
    assert 're-parameterised backbone' in result.stdout
    assert 'optimizer' in result.stdout
    converted = torch.load(dst, weights_only=True)  # plain tensors only
    assert converted['meta']['dataset_meta']['classes'] == ['a', 'b']
    deploy = UniRepLKNet(arch=SMALL_ARCH, deploy=True)
    deploy.load_state_dict(
        {k[9:]: v for k, v in converted['state_dict'].items()}, strict=True)
