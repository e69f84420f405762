# Copyright (c) mmunireplk contributors. All rights reserved.
"""Loading public-format checkpoints through ``init_cfg=Pretrained``."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

from mmunireplk.models import UniRepLKNet
from mmunireplk.models.pretrained import UnsafeCheckpointError
from tests.helpers import randomize_bn_and_scales


def imagenet_state_dict(arch: str = 'atto', seed: int = 0) -> OrderedDict:
    """A checkpoint in the public ImageNet layout: training-form backbone
    keys without output norms, plus the classifier's ``norm.*``/``head.*``."""
    torch.manual_seed(seed)
    source = UniRepLKNet(arch=arch, out_indices=())
    source.init_weights()
    randomize_bn_and_scales(source, seed=seed)
    state_dict = OrderedDict(source.state_dict())
    dim = source.dims[3]
    state_dict['norm.weight'] = torch.rand(dim)
    state_dict['norm.bias'] = torch.rand(dim)
    state_dict['head.weight'] = torch.rand(1000, dim)
    state_dict['head.bias'] = torch.rand(1000)
    return state_dict


class RunnerMeta:
    """A non-tensor object, as pickled into runner checkpoints."""
    epoch = 36


def pretrained(path, **kwargs) -> UniRepLKNet:
    return UniRepLKNet(
        arch='atto',
        init_cfg=dict(type='Pretrained', checkpoint=str(path)),
        **kwargs)


def assert_loaded(model: UniRepLKNet, state_dict: dict) -> None:
    own = model.state_dict()
    for key, value in state_dict.items():
        if key.startswith(('norm.', 'head.')):
            continue
        assert torch.equal(own[key], value), key


WRAPPERS = {
    'raw': lambda sd: sd,
    'model': lambda sd: {'model': sd, 'epoch': 300},
    'state_dict': lambda sd: {'state_dict': sd, 'meta': {'epoch': 3}},
    'module.': lambda sd: {'model': {'module.' + k: v
                                     for k, v in sd.items()}},
    'backbone.': lambda sd: {
        'state_dict': {
            **{'backbone.' + k: v for k, v in sd.items()},
            'neck.lateral_convs.0.conv.weight': torch.zeros(1),
            'roi_head.bbox_head.0.fc_cls.weight': torch.zeros(1),
        }
    },
    'module.backbone.': lambda sd: {'module.backbone.' + k: v
                                    for k, v in sd.items()},
}


@pytest.mark.parametrize('layout', list(WRAPPERS))
def test_pretrained_layouts(tmp_path, mm_log, layout):
    state_dict = imagenet_state_dict()
    path = tmp_path / 'ckpt.pth'
    torch.save(WRAPPERS[layout](state_dict), path)
    model = pretrained(path)
    model.init_weights()
    assert_loaded(model, state_dict)
    summary = [m for m in mm_log if m.startswith('Loaded ')]
    assert len(summary) == 1, mm_log
    # Only the fresh output norms are missing; nothing unexpected, and the
    # classifier keys are dropped rather than reported.
    assert 'missing in checkpoint, left initialised (8): norm0.weight' in \
        summary[0]
    assert 'unexpected' not in summary[0]


def test_prefix_option_and_unexpected_keys_are_reported(tmp_path, mm_log):
    state_dict = imagenet_state_dict()
    state_dict['stages.0.0.extra_scale'] = torch.ones(3)
    path = tmp_path / 'ckpt.pth'
    torch.save({'teacher.' + k: v for k, v in state_dict.items()}, path)
    model = UniRepLKNet(
        arch='atto',
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='teacher'))
    model.init_weights()
    assert_loaded(model, {k: v for k, v in state_dict.items()
                          if k != 'stages.0.0.extra_scale'})
    assert any('unexpected in checkpoint, ignored (1): '
               'stages.0.0.extra_scale' in m for m in mm_log)


def test_missing_file_fails_at_init_not_construction(tmp_path):
    path = tmp_path / 'does_not_exist.pth'
    model = pretrained(path)  # constructing must not touch the file
    with pytest.raises(FileNotFoundError, match='does_not_exist.pth'):
        model.init_weights()


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    path = tmp_path / 'femto.pth'
    torch.save(imagenet_state_dict('femto'), path)
    with pytest.raises(ValueError) as err:
        pretrained(path).init_weights()
    message = str(err.value)
    assert 'downsample_layers.0.0.weight (file (24, 3, 3, 3), model ' \
        '(20, 3, 3, 3))' in message


def test_deploy_checkpoint_into_training_model_is_explained(tmp_path):
    deploy = UniRepLKNet(arch='atto').switch_to_deploy()
    path = tmp_path / 'deploy.pth'
    torch.save(deploy.state_dict(), path)
    with pytest.raises(RuntimeError, match='deploy=True'):
        pretrained(path).init_weights()
    # The deploy-form model loads it.
    model = pretrained(path, deploy=True)
    model.init_weights()
    assert_loaded(model, deploy.state_dict())


def test_training_checkpoint_into_deploy_model_is_explained(tmp_path):
    path = tmp_path / 'train.pth'
    torch.save(imagenet_state_dict(), path)
    with pytest.raises(RuntimeError, match='switch_to_deploy'):
        pretrained(path, deploy=True).init_weights()


def test_unrelated_checkpoint_is_an_error(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(RuntimeError, match='No key'):
        pretrained(path).init_weights()


def test_runner_checkpoint_with_plain_meta_loads(tmp_path):
    """mmcv 1.x / mmengine runner checkpoints: weights plus plain ``meta``
    (numpy scalars included) load weights-only."""
    state_dict = imagenet_state_dict()
    path = tmp_path / 'runner.pth'
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in state_dict.items()},
                'meta': dict(epoch=36, best_score=np.float64(0.5),
                             CLASSES=('a', 'b'))}, path)
    model = pretrained(path)
    model.init_weights()
    assert_loaded(model, state_dict)


def test_checkpoint_with_other_objects_is_refused_unless_trusted(
        tmp_path, mm_log):
    state_dict = imagenet_state_dict()
    path = tmp_path / 'runner.pth'
    torch.save({'state_dict': state_dict, 'meta': RunnerMeta()}, path)
    with pytest.raises(UnsafeCheckpointError) as error:
        pretrained(path).init_weights()
    message = str(error.value)
    assert 'RunnerMeta' in message and 'trust_checkpoint=True' in message
    assert str(path) in message

    model = UniRepLKNet(
        arch='atto',
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), trust_checkpoint=True))
    model.init_weights()
    assert_loaded(model, state_dict)
    assert any('full unpickling' in m for m in mm_log), mm_log


def test_frozen_stages_survive_pretrained_loading(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(imagenet_state_dict(), path)
    model = pretrained(path, frozen_stages=1)
    model.init_weights()
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())
