# Copyright (c) mmunireplk contributors. All rights reserved.
"""Public ImageNet files -> mmpretrain: converter, layout detection, the
in-memory mapping on load, and the head's own Pretrained init."""
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmunireplk.checkpoint.imagenet import (convert_imagenet_checkpoint,
                                            is_public_imagenet_layout)
from tests.helpers import run_tool
from .conftest import REPO, config_path, make_public_checkpoint

A_CONFIG = config_path('unireplknet-a_32xb128_in1k.py')
CONVERTER = osp.join(REPO, 'tools', 'model_converters',
                     'unireplknet_to_mmpretrain.py')


@pytest.fixture(scope='module')
def public_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('public') / 'unireplknet_a_in1k.pth')
    torch.save(dict(model=make_public_checkpoint('atto', seed=3)), path)
    return path


def test_layout_detection():
    public = make_public_checkpoint('atto', num_classes=10)
    assert is_public_imagenet_layout(public)
    assert is_public_imagenet_layout(dict(model=public))
    assert is_public_imagenet_layout(
        {'module.' + k: v for k, v in public.items()})
    converted = convert_imagenet_checkpoint(public)
    assert not is_public_imagenet_layout(converted)
    backbone_only = {k: v for k, v in public.items()
                     if not k.startswith(('norm.', 'head.'))}
    assert not is_public_imagenet_layout(backbone_only)
    assert not is_public_imagenet_layout(
        {'backbone.' + k: v for k, v in public.items()})


def test_mapping_is_one_to_one():
    from mmunireplk.checkpoint import ConversionReport
    public = make_public_checkpoint('atto', num_classes=10)
    report = ConversionReport()
    out = convert_imagenet_checkpoint(dict(model=public, epoch=3), report)
    state = out['state_dict']
    assert len(state) == len(public)
    for key, value in public.items():
        if key.startswith(('norm.', 'head.')):
            new = 'head.' + ('norm.' if key.startswith('norm.') else 'head.')
            new += key.split('.', 1)[1]
        else:
            new = 'backbone.' + key
        assert state[new] is value
    assert out['meta']['num_classes'] == 10
    text = str(report)
    assert 'head.weight -> head.head.weight' in text
    assert 'atto' in text and 'epoch' in text


def test_bad_inputs_are_named():
    public = make_public_checkpoint('atto', num_classes=10)
    with pytest.raises(ValueError, match='already an OpenMMLab'):
        convert_imagenet_checkpoint(
            convert_imagenet_checkpoint(public)['state_dict'])
    with pytest.raises(ValueError, match="lacks the classifier keys"):
        convert_imagenet_checkpoint(
            {k: v for k, v in public.items() if not k.startswith('head.')})
    with pytest.raises(ValueError, match='unknown meaning'):
        convert_imagenet_checkpoint(dict(public, extra=torch.zeros(1)))
    with pytest.raises(ValueError, match='no key starts with'):
        convert_imagenet_checkpoint({'norm.weight': torch.ones(1)})
    with pytest.raises(ValueError, match='3 class names'):
        convert_imagenet_checkpoint(public, classes=['a', 'b', 'c'])


def test_cli_output_loads_strictly_with_get_model(public_file, tmp_path,
                                                  mmpretrain_scope):
    from mmpretrain import get_model
    out = str(tmp_path / 'a_mmpretrain.pth')
    result = run_tool([CONVERTER, public_file, out, '--config', A_CONFIG],
                      check=True)
    assert 'head.norm.weight' in result.stdout  # prints what it mapped
    assert 'loads strictly' in result.stdout

    saved = torch.load(out, weights_only=True)
    assert len(saved['meta']['dataset_meta']['classes']) == 1000
    model = get_model(Config.fromfile(A_CONFIG), pretrained=out)
    state = model.state_dict()
    assert set(state) == set(saved['state_dict'])  # nothing missing/extra
    for key, value in saved['state_dict'].items():
        assert torch.equal(state[key], value), key
    assert model._dataset_meta['classes'][0] == saved['meta'][
        'dataset_meta']['classes'][0]


def test_runner_load_maps_public_file(public_file, tmp_path,
                                      mmpretrain_scope):
    """What tools/test.py CONFIG PUBLIC_FILE (and load_from) do:
    Runner.load_checkpoint calls the config's hook, which maps the public
    layout in memory."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(A_CONFIG)
    assert cfg.custom_hooks[0].type == 'mmunireplk.ImageNetCheckpointHook'
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None
    runner = Runner(
        model=model_cfg,
        work_dir=str(tmp_path),
        custom_hooks=cfg.custom_hooks,
        default_scope='mmpretrain')
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    runner.logger.addHandler(handler)
    runner.load_checkpoint(public_file)
    runner.logger.removeHandler(handler)

    public = torch.load(public_file, weights_only=True)['model']
    state = runner.model.state_dict()
    converted = convert_imagenet_checkpoint(public)['state_dict']
    assert set(state) == set(converted)
    for key, value in converted.items():
        assert torch.equal(state[key], value), key
    assert any('public UniRepLKNet ImageNet checkpoint' in m and
               'head.norm.weight' in m for m in messages)


def test_head_pretrained_init_from_public_file(public_file,
                                               mmpretrain_scope):
    from mmunireplk.cls import UniRepLKNetClsHead
    public = torch.load(public_file, weights_only=True)['model']
    head = UniRepLKNetClsHead(
        1000, 320, init_cfg=dict(type='Pretrained', checkpoint=public_file))
    head.init_weights()
    assert torch.equal(head.head.weight, public['head.weight'])
    assert torch.equal(head.norm.bias, public['norm.bias'])

    # 22K -> 1K style: another class count keeps `norm`, re-inits `head`
    head = UniRepLKNetClsHead(
        10, 320, head_init_scale=1e-3,
        init_cfg=dict(type='Pretrained', checkpoint=public_file,
                      reinit_mismatched_head=True))
    head.init_weights()
    assert torch.equal(head.norm.weight, public['norm.weight'])
    assert head.head.weight.abs().max() < 1e-3
    head = UniRepLKNetClsHead(
        10, 320, init_cfg=dict(type='Pretrained', checkpoint=public_file))
    with pytest.raises(ValueError, match='does not fit the head'):
        head.init_weights()


def test_head_pretrained_init_from_url(public_file, tmp_path, monkeypatch,
                                       mmpretrain_scope):
    """The configs name the public files by their hub URL: the head
    downloads and reads them weights-only like the backbone does."""
    import shutil

    from mmunireplk.cls import UniRepLKNetClsHead

    def fake_download(url, dst, progress=True):
        shutil.copy(public_file, dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    public = torch.load(public_file, weights_only=True)['model']
    head = UniRepLKNetClsHead(
        1000, 320,
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://example.org/unireplknet_a.pth'))
    head.init_weights()
    assert torch.equal(head.head.weight, public['head.weight'])
    assert osp.isfile(tmp_path / 'hub' / 'checkpoints' / 'unireplknet_a.pth')


def test_finetune_config_initialises_from_22k_style_file(
        tmp_path, mmpretrain_scope):
    """The 384 fine-tuning init: backbone and `norm` from the public
    pretraining file, a fresh 1000-way `head` scaled by 1e-3."""
    from mmpretrain.registry import MODELS
    path = str(tmp_path / 'in22k_pretrain.pth')
    public = make_public_checkpoint('atto', num_classes=50, seed=7)
    torch.save(public, path)
    cfg = Config.fromfile(
        config_path('unireplknet-s_in21k-pre_8xb64_in1k-384px.py'))
    cfg.merge_from_dict({
        'model.backbone.arch': 'atto',
        'model.backbone.init_cfg.checkpoint': path,
        'model.head.in_channels': 320,
        'model.head.init_cfg.checkpoint': path,
    })
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = model.state_dict()
    for key, value in public.items():
        if key.startswith(('downsample_layers.', 'stages.')):
            assert torch.equal(state['backbone.' + key], value), key
    assert torch.equal(state['head.norm.weight'], public['norm.weight'])
    assert state['head.head.weight'].shape == (1000, 320)
    assert 0 < state['head.head.weight'].std() < 0.02 * 1e-3 * 1.5
