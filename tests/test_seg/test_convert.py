# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmseg 0.x runner checkpoints convert into strictly loadable ones."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmunireplk.checkpoint import ConversionReport, convert_mmseg0x_checkpoint
from tests.helpers import load_tool
from .conftest import DEMO_CONFIG

SEG_TOOL = 'tools/model_converters/unireplknet_mmseg0x_to_1x.py'
REPARAM_TOOL = 'tools/model_converters/unireplknet_reparameterize.py'


def _demo_model(seed):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _legacy_checkpoint(model, ddp_prefix=False, classifier=False):
    """What an mmcv 1.x runner saved for an mmseg 0.x segmentor."""
    state_dict = OrderedDict(
        (('module.' if ddp_prefix else '') + k, v.clone())
        for k, v in model.state_dict().items())
    if classifier:
        state_dict[('module.' if ddp_prefix else '') +
                   'backbone.head.weight'] = torch.zeros(1000, 320)
    params = [p for p in model.parameters()]
    return dict(
        meta=dict(
            mmseg_version='0.27.0+abc',
            mmcv_version='1.6.0',
            config='model = dict(...)',
            env_info='sys.platform: linux',
            seed=0,
            exp_name='upernet.py',
            CLASSES=('a', 'b', 'c', 'd', 'e'),
            PALETTE=np.array([[1, 2, 3]] * 5),
            epoch=0,
            iter=160000,
            hook_msgs=dict(last_ckpt='work_dirs/iter_160000.pth')),
        state_dict=state_dict,
        optimizer=dict(
            state={0: dict(step=torch.tensor(3.),
                           exp_avg=torch.zeros_like(params[0]))},
            param_groups=[dict(lr=0., weight_decay=0.05, params=[0])]))


@pytest.mark.parametrize('ddp_prefix,classifier', [(False, False),
                                                   (True, True)])
def test_cli_converts_and_loads_strictly(tmp_path, ddp_prefix, classifier,
                                         capsys):
    source = _demo_model(seed=0)
    src, dst = str(tmp_path / 'legacy.pth'), str(tmp_path / 'new.pth')
    torch.save(_legacy_checkpoint(source, ddp_prefix, classifier), src)

    load_tool(SEG_TOOL).main([src, dst, '--config', DEMO_CONFIG])
    printed = capsys.readouterr().out
    assert 'optimizer' in printed and 'loads strictly' in printed

    # plain tensors and meta only: loads with weights_only=True
    converted = torch.load(dst, weights_only=True)
    assert set(converted) == {'meta', 'state_dict'}
    assert converted['meta']['dataset_meta']['classes'] == list('abcde')
    assert converted['meta']['source_mmseg_version'] == '0.27.0+abc'

    target = _demo_model(seed=1)
    target.load_state_dict(converted['state_dict'], strict=True)
    inputs = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(
            source.encode_decode(inputs, [dict(img_shape=(64, 96))]),
            target.encode_decode(inputs, [dict(img_shape=(64, 96))]))


def test_converted_checkpoint_runs_with_mmengine_loader(tmp_path):
    """tools/test.py loads it through mmengine's load_checkpoint."""
    from mmengine.runner import load_checkpoint
    source = _demo_model(seed=0)
    converted = convert_mmseg0x_checkpoint(_legacy_checkpoint(source),
                                           ConversionReport())
    path = str(tmp_path / 'c.pth')
    torch.save(converted, path)
    target = _demo_model(seed=1)
    load_checkpoint(target, path, strict=True)
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key


def test_rejects_non_segmentor_checkpoints():
    with pytest.raises(KeyError, match="'decode_head.'"):
        convert_mmseg0x_checkpoint(
            dict(state_dict={'backbone.stages.0.0.gamma': torch.ones(2)}),
            ConversionReport())
    with pytest.raises(KeyError, match="'backbone.'"):
        convert_mmseg0x_checkpoint({'stages.0.0.gamma': torch.ones(2)},
                                   ConversionReport())


def test_reparameterize_tool_on_converted_seg_checkpoint(tmp_path):
    """mmseg 0.x -> 1.x, then the generic re-parameterisation tool: the
    deploy segmentor loads strictly and predicts what the training one
    does (eval mode)."""
    from mmseg.registry import MODELS

    from ..helpers import randomize_bn_and_scales
    source = _demo_model(seed=0)
    randomize_bn_and_scales(source.backbone, seed=2)
    legacy, converted = str(tmp_path / 'legacy.pth'), str(tmp_path / 'c.pth')
    deployed = str(tmp_path / 'deploy.pth')
    torch.save(_legacy_checkpoint(source), legacy)
    load_tool(SEG_TOOL).main([legacy, converted])
    load_tool(REPARAM_TOOL).main([converted, deployed, '--config',
                                  DEMO_CONFIG])

    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.deploy = True
    target = MODELS.build(cfg.model).eval()
    state_dict = torch.load(deployed, weights_only=True)['state_dict']
    target.load_state_dict(state_dict, strict=True)
    assert not any('origin_bn' in k for k in state_dict)
    inputs = torch.rand(1, 3, 64, 96)
    metas = [dict(img_shape=(64, 96))]
    with torch.no_grad():
        expected = source.encode_decode(inputs, metas)
        actual = target.encode_decode(inputs, metas)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
