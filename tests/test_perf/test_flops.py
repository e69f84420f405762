# Copyright (c) mmunireplk contributors. All rights reserved.
"""FLOP / parameter counting and the get_flops tool."""
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from complexity import count_flops, get_complexity
from mmunireplk.apis.builder import build_model_from_config
from mmunireplk.deploy import KernelBlock, attach_cpu_kernels
from mmunireplk.models.backbones import UniRepLKNet
from mmunireplk.models.layers import DRB_BRANCHES, UniRepLKNetBlock
from tests.test_perf.utils import REPO, argv, load_tool, tiny_upernet_config

DET_T = osp.join(
    REPO, 'configs', 'unireplknet',
    'cascade-mask-rcnn_unireplknet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py')
SEG_T = osp.join(REPO, 'configs', 'unireplknet',
                 'upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py')


@pytest.mark.timeout(60)
def test_layer_rules():
    x = torch.randn(1, 4, 5, 5)
    conv = nn.Conv2d(4, 8, 3, padding=1, groups=2)
    out_numel = 8 * 5 * 5
    assert count_flops(conv, lambda: conv(x))[0] == out_numel * 9 * 2
    assert count_flops(conv, lambda: conv(x), 'mmcv')[0] == \
        out_numel * 9 * 2 + out_numel
    linear = nn.Linear(6, 10)
    y = torch.randn(2, 3, 6)
    assert count_flops(linear, lambda: linear(y))[0] == 60 * 6
    assert count_flops(linear, lambda: linear(y), 'mmcv')[0] == 60 * 7
    deconv = nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False)
    z = torch.randn(1, 4, 3, 3)
    assert count_flops(deconv, lambda: deconv(z))[0] == 36 * 4 * 2
    seq = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.GELU())
    assert count_flops(seq, lambda: seq(x))[0] == 0
    assert count_flops(seq, lambda: seq(x), 'mmcv')[0] == 100 * 2 + 100
    with pytest.raises(ValueError, match='convention'):
        count_flops(seq, lambda: seq(x), 'fvcore')


@pytest.mark.timeout(60)
def test_deploy_block_counts_its_modules_and_drb_branches():
    """The deploy block's modules are counted, and the training form counts
    every dilated branch of the DRB."""
    c, h, w = 8, 10, 12
    block = UniRepLKNetBlock(c, 13).eval()
    x = torch.randn(1, c, h, w)
    training = count_flops(block, lambda: block(x))[0]
    block.reparameterize()
    deploy = count_flops(block, lambda: block(x))[0]
    hw = h * w
    pointwise = 2 * hw * c * 4 * c
    se = 2 * c * (c // 4)
    assert deploy == hw * c * 13 * 13 + pointwise + se
    branches = sum(k * k for k in DRB_BRANCHES[13][0])
    assert training - deploy == hw * c * branches


@pytest.mark.timeout(120)
def test_cpu_kernels_do_not_hide_modules():
    """With the CPU kernels attached (they compute a block without calling
    its submodules) the count is the plain deploy form's, and the kernels
    stay attached with their state."""
    model = UniRepLKNet('atto').switch_to_deploy().eval()
    x = torch.randn(1, 3, 64, 64)
    plain = count_flops(model, lambda: model(x))[0]
    kernels = attach_cpu_kernels(model)
    with torch.no_grad():
        expected = model(x)
    assert count_flops(model, lambda: model(x))[0] == plain > 0
    blocks = [m for m in model.modules() if isinstance(m, UniRepLKNetBlock)]
    assert blocks and all(
        isinstance(m, KernelBlock) and m.cpu_kernels is kernels
        for m in blocks)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize('arch,params,flops', [('tiny', 31e6, 4.9e9),
                                               ('small', 56e6, 9.1e9)])
@pytest.mark.timeout(300)
def test_imagenet_table(arch, params, flops):
    """Deploy model + 1000-class head at 224 matches the paper's table."""
    table = load_tool('tools/analysis_tools/flops_table.py')
    result = get_complexity(table.ImageNetClassifier(arch), (224, 224))
    assert abs(result['params'] / params - 1) < 0.01
    assert abs(result['flops'] / flops - 1) < 0.01


@pytest.fixture(scope='module')
def atto_cascade():
    """The T detection config with an atto backbone (for speed)."""
    cfg = Config.fromfile(DET_T)
    cfg.merge_from_dict({
        'model.backbone.arch': 'atto',
        'model.neck.in_channels': [40, 80, 160, 320]
    })
    return build_model_from_config(cfg)


@pytest.mark.timeout(300)
def test_cascade_rcnn_dummy_forward_convention(atto_cascade):
    """Each of the 3 stages runs its 4conv1fc bbox head on every proposal
    and its mask head on the first ``num_mask_rois`` RoIs."""
    proposals, mask_rois = 7, 3
    result = get_complexity(
        atto_cascade, (128, 160),
        num_proposals=proposals,
        num_mask_rois=mask_rois)
    conv = 256 * 256 * 9
    bbox = 4 * 49 * conv + 256 * 49 * 1024 + 1024 * 81 + 1024 * 80 * 4
    mask = 4 * 196 * conv + 196 * 256 * 4 * 256 + 784 * 256 * 80
    expected = 3 * (proposals * bbox + mask_rois * mask)
    assert result['flops_per_part']['roi_head'] == expected
    assert result['flops_per_part']['backbone'] > 0
    assert result['flops_per_part']['rpn_head'] > 0


@pytest.mark.timeout(300)
def test_get_flops_tool(tmp_path, capsys):
    cfg_path = str(tmp_path / 'upernet_atto.py')
    tiny_upernet_config().dump(cfg_path)
    out = tmp_path / 'flops.json'
    tool = load_tool('tools/analysis_tools/get_flops.py')
    with argv([cfg_path, '--shape', '64', '96', '--out', out]):
        tool.main()
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert f'Flops: {result["flops"] / 1e9:.2f} G' in printed
    assert f'Params: {result["params"] / 1e6:.2f} M' in printed
    assert result['form'] == 'training'
    # The auxiliary head counts in params but is not run.
    assert 'auxiliary_head' not in result['flops_per_part']
    model = build_model_from_config(tiny_upernet_config())
    assert result['params'] == sum(p.numel() for p in model.parameters())
    with argv([cfg_path, '--shape', '64', '96', '--form', 'deploy', '--out',
               out]):
        tool.main()
    deploy = json.loads(out.read_text())
    assert deploy['form'] == 'deploy'
    assert deploy['flops'] < result['flops']
    assert deploy['params'] < result['params']
    with argv([cfg_path, '--shape', '64', '96', '--exclude-aux-head',
               '--out', out]):
        tool.main()
    no_aux = json.loads(out.read_text())
    aux_params = sum(p.numel() for p in model.auxiliary_head.parameters())
    assert no_aux['params'] == result['params'] - aux_params
    assert no_aux['flops'] == result['flops']


@pytest.mark.slow
@pytest.mark.parametrize('config,shape,params,flops',
                         [(DET_T, (800, 1280), 89e6, 749e9),
                          (SEG_T, (512, 2048), 61e6, 946e9)])
@pytest.mark.timeout(900)
def test_published_det_seg_figures(config, shape, params, flops):
    """The paper's convention: deploy-form backbone, auxiliary head not in
    the params."""
    model = build_model_from_config(Config.fromfile(config), form='deploy')
    result = get_complexity(model, shape, exclude_aux_head=True)
    assert abs(result['params'] / params - 1) < 0.02
    assert abs(result['flops'] / flops - 1) < 0.02
