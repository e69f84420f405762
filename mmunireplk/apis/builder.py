# Copyright (c) mmunireplk contributors. All rights reserved.
"""Build the model of a detection / segmentation / classification config
(for inference, export, analysis and the converters' strict-load check)."""
import functools
from typing import Callable, Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mmunireplk.checkpoint import (load_checkpoint_file, load_strict,
                                   unwrap_state_dict)
from mmunireplk.checkpoint.state_dict import StateDict
from mmunireplk.deploy import prepare_for_inference
from mmunireplk.models.backbones.unireplknet import state_dict_form
from mmunireplk.utils import sync_bn_to_bn


def build_model_from_config(cfg: Config,
                            checkpoint: Optional[str] = None,
                            form: str = 'config',
                            state_dict: Optional[dict] = None) -> nn.Module:
    """Build ``cfg.model`` in eval mode, SyncBN as BN, without pretrained
    downloads.

    Args:
        cfg (Config): A detection / segmentation / classification config.
        checkpoint (str, optional): Whole-model weights (either backbone
            form), read weights-only and loaded strictly.
        form (str): Backbone form: ``'config'`` (as the config / checkpoint
            builds it), ``'training'`` or ``'deploy'``
            (:func:`prepare_for_inference` after loading).
        state_dict (dict, optional): Weights whose backbone form decides
            the model's when no ``checkpoint`` is given; not loaded.
    """
    if form not in ('config', 'training', 'deploy'):
        raise ValueError(f"form must be 'config', 'training' or 'deploy', "
                         f'got {form!r}')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = cfg.model.copy()
    sync_bn_to_bn(model_cfg)
    if 'pretrained' in model_cfg:
        model_cfg['pretrained'] = None
    backbone = model_cfg.get('backbone')
    is_unireplknet = backbone is not None and str(backbone.get(
        'type', '')).endswith('UniRepLKNet')
    if form != 'config' and not is_unireplknet:
        got = None if backbone is None else backbone.get('type')
        raise ValueError(f'form={form!r} needs a UniRepLKNet backbone, got '
                         f'{got}')

    weights = None
    if checkpoint is not None:
        weights = unwrap_state_dict(load_checkpoint_file(checkpoint))
    form_source = weights if weights is not None else state_dict
    if backbone is not None:
        backbone = backbone.copy()
        backbone['init_cfg'] = None
        if is_unireplknet:
            ckpt_form = None if form_source is None else state_dict_form(
                form_source)
            if ckpt_form is not None:
                backbone['deploy'] = ckpt_form == 'deploy'
            elif form != 'config':
                backbone['deploy'] = form == 'deploy'
            if form == 'training' and backbone.get('deploy', False):
                raise ValueError('a deploy-form checkpoint cannot give the '
                                 'training form')
        model_cfg['backbone'] = backbone

    model = MODELS.build(model_cfg)
    if weights is not None:
        load_strict(model, weights, checkpoint)
    if form == 'deploy':
        prepare_for_inference(model)
    model.eval()
    return model


def check_strict_load(config: Union[str, Config],
                      state_dict: StateDict,
                      source: str = 'The converted weights') -> str:
    """Load ``state_dict`` strictly into the model of ``config``; returns
    what was verified, for a conversion report."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    model = build_model_from_config(cfg, state_dict=state_dict)
    name = config if isinstance(config, str) else cfg.filename or 'config'
    load_strict(model, state_dict, source, f'the model of {name}')
    return f'loads strictly into {name}'


def strict_load_check(
        config: Optional[str]) -> Optional[Callable[[StateDict], str]]:
    """The ``check`` of :func:`~mmunireplk.checkpoint.convert_file` for a
    converter's ``--config`` (None: no check)."""
    if config is None:
        return None
    return functools.partial(check_strict_load, config)
