# Copyright (c) mmunireplk contributors. All rights reserved.
"""Inference on images with the upstream inferencers of mmdet, mmseg and
mmpretrain, for UniRepLKNet configs and checkpoints."""
import copy
import importlib
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

from mmunireplk.checkpoint import (load_strict, read_checkpoint,
                                   unwrap_state_dict)
from mmunireplk.checkpoint.convert import strip_ddp_prefix
from mmunireplk.deploy import prepare_for_inference
from mmunireplk.models import UniRepLKNet
from mmunireplk.utils import TASK_SCOPES, detect_task

TASKS = ('det', 'seg', 'cls')
SCOPE_OF_TASK = {v: k for k, v in TASK_SCOPES.items()}
# Palettes that can be asked for by name (``--palette``).
PALETTE_CHOICES = ('auto', 'random', 'coco', 'ade20k', 'cityscapes', 'voc')
ConfigType = Union[str, Config, ConfigDict]


def get_task(cfg: Config) -> str:
    """``'det'``, ``'seg'`` or ``'cls'`` of a config; ValueError if it
    belongs to none of mmdet, mmseg and mmpretrain."""
    task = detect_task(cfg)
    if task is None:
        raise ValueError(
            f'Cannot tell the task of config {cfg.filename}: its '
            f"default_scope is {cfg.get('default_scope')!r} and its model "
            f"type {cfg.get('model', {}).get('type')!r}; expected one of the "
            f'scopes {sorted(TASK_SCOPES)}')
    return task


def load_config(config: ConfigType,
                cfg_options: Optional[dict] = None) -> Config:
    """Read a config without the backbone's pretrained ``init_cfg``
    (inference takes the weights from the checkpoint)."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, ConfigDict):
        cfg = Config(copy.deepcopy(config.to_dict()))
    else:
        if not osp.isfile(str(config)):
            raise FileNotFoundError(f'Config file not found: {config}')
        cfg = Config.fromfile(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    backbone = cfg.get('model', {}).get('backbone')
    if isinstance(backbone, dict) and backbone.get('init_cfg') is not None:
        backbone['init_cfg'] = None
    return cfg


def checkpoint_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The model state dict of a checkpoint, without a ``module.`` prefix."""
    state_dict = unwrap_state_dict(checkpoint)
    return strip_ddp_prefix(
        {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)})


def model_num_classes(model: nn.Module, task: str) -> Optional[int]:
    """Number of classes the model predicts, or None."""
    candidates: List[Any] = []
    if task == 'det':
        roi_head = getattr(model, 'roi_head', None)
        bbox_head = getattr(roi_head, 'bbox_head', None)
        if isinstance(bbox_head, nn.ModuleList):
            bbox_head = bbox_head[-1]
        candidates += [bbox_head, getattr(model, 'bbox_head', None)]
    elif task == 'seg':
        candidates.append(getattr(model, 'decode_head', None))
    else:
        candidates.append(getattr(model, 'head', None))
    for module in candidates:
        num = getattr(module, 'num_classes', None)
        if isinstance(num, int):
            return num
    return None


def default_dataset_meta(name: str) -> dict:
    """Class names and palette of ``'coco'``, ``'ade20k'``,
    ``'cityscapes'``, ``'voc'`` or ``'imagenet'``."""
    if name == 'coco':
        from mmdet.datasets import CocoDataset
        meta = CocoDataset.METAINFO
    elif name in ('ade20k', 'cityscapes', 'voc'):
        from mmseg.utils import get_classes, get_palette
        meta = dict(classes=get_classes(name), palette=get_palette(name))
    elif name == 'imagenet':
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
        meta = dict(classes=IMAGENET_CATEGORIES)
    else:
        raise ValueError(f'Unknown dataset {name!r} for class names: '
                         "expected 'coco', 'ade20k', 'cityscapes', 'voc' or "
                         "'imagenet'")
    return dict(
        classes=tuple(meta['classes']),
        palette=[tuple(int(v) for v in c) for c in meta.get('palette', [])])


TASK_DEFAULT_DATASET = {'det': 'coco', 'seg': 'ade20k', 'cls': 'imagenet'}


def random_palette(num_classes: int, seed: int = 42) -> List[Tuple[int, ...]]:
    """A reproducible palette of bright colours (RGB)."""
    rng = np.random.RandomState(seed)
    colours = rng.randint(40, 256, size=(num_classes, 3))
    return [tuple(int(v) for v in c) for c in colours]


def _config_metainfo(cfg: Config, task: str) -> Optional[dict]:
    """Class names (and palette) of the config's test dataset."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {}) if isinstance(loader, dict) else {}
    while isinstance(dataset, dict) and 'dataset' in dataset \
            and 'metainfo' not in dataset:
        dataset = dataset['dataset']  # wrappers such as RepeatDataset
    if not isinstance(dataset, dict):
        return None
    metainfo = dataset.get('metainfo')
    if isinstance(metainfo, dict) and metainfo.get('classes'):
        return dict(metainfo)
    dataset_type = dataset.get('type')
    if not isinstance(dataset_type, str):
        return None
    registry = importlib.import_module(f'{SCOPE_OF_TASK[task]}.registry')
    try:
        dataset_cls = registry.DATASETS.get(dataset_type)
    except KeyError:
        dataset_cls = None
    metainfo = getattr(dataset_cls, 'METAINFO', None)
    if isinstance(metainfo, dict) and metainfo.get('classes'):
        return dict(metainfo)
    return None


def resolve_dataset_meta(task: str,
                         cfg: Config,
                         checkpoint_meta: Optional[dict],
                         num_classes: Optional[int],
                         palette: str = 'auto') -> dict:
    """Class names and palette for visualisation: from the checkpoint's
    ``meta['dataset_meta']``, the config's test dataset or the task's
    default dataset, the first whose class count matches the model.
    ``palette``: ``'auto'`` (that source's, random where it has none),
    ``'random'`` or a dataset name.
    """
    if palette not in PALETTE_CHOICES:
        raise ValueError(f'Unknown palette {palette!r}: expected one of '
                         f'{PALETTE_CHOICES}')
    sources = []
    meta = (checkpoint_meta or {}).get('dataset_meta')
    if isinstance(meta, dict) and meta.get('classes'):
        sources.append(('checkpoint', meta))
    meta = _config_metainfo(cfg, task)
    if meta is not None:
        sources.append(('config', meta))
    sources.append(('default', default_dataset_meta(
        TASK_DEFAULT_DATASET[task])))
    chosen = None
    for origin, meta in sources:
        if num_classes is None or len(meta['classes']) == num_classes:
            chosen = (origin, meta)
            break
    if chosen is None:
        warnings.warn(f'No class names for the {num_classes} classes of '
                      'the model (checkpoint meta, config and the default '
                      'dataset disagree); using class_0, class_1, ...')
        chosen = ('generic', dict(
            classes=tuple(f'class_{i}' for i in range(num_classes))))
    origin, meta = chosen
    classes = tuple(meta['classes'])
    colours = meta.get('palette')
    if palette == 'random' or (palette == 'auto' and (
            not colours or len(colours) < len(classes))):
        colours = random_palette(len(classes))
    elif palette != 'auto':
        colours = default_dataset_meta(palette)['palette']
        if len(colours) < len(classes):
            colours = list(colours) + random_palette(len(classes))[
                len(colours):]
    return dict(
        classes=classes,
        palette=[tuple(int(v) for v in c) for c in colours],
        source=origin)


class ImagePredictor:
    """A UniRepLKNet detector, segmentor or classifier ready for images.

    Wraps the task's upstream inferencer (:attr:`inferencer`). The weights
    are read weights-only and loaded strictly; a deploy-form checkpoint
    builds the deploy-form backbone.

    Args:
        config (str | Config): Config file or object.
        weights (str, optional): Checkpoint file; None runs with random
            weights (and warns).
        task (str, optional): ``'det'``, ``'seg'`` or ``'cls'``; read off
            the config when None.
        device (str): Device. Defaults to ``'cpu'``.
        deploy (bool): Apply :func:`mmunireplk.deploy.prepare_for_inference`
            after loading. Defaults to False.
        palette (str): See :func:`resolve_dataset_meta`.
        cfg_options (dict, optional): Overrides merged into the config.
    """

    def __init__(self,
                 config: ConfigType,
                 weights: Optional[str] = None,
                 task: Optional[str] = None,
                 device: str = 'cpu',
                 deploy: bool = False,
                 palette: str = 'auto',
                 cfg_options: Optional[dict] = None) -> None:
        cfg = load_config(config, cfg_options)
        self.config_name = cfg.filename or '<config object>'
        self.task = task or get_task(cfg)
        if self.task not in TASKS:
            raise ValueError(f'task must be one of {TASKS}, got {task!r}')
        checkpoint: dict = {}
        state_dict = None
        if weights is not None:
            if '://' not in weights and not osp.isfile(
                    osp.expanduser(weights)):
                raise FileNotFoundError(f'Weights file not found: {weights}')
            checkpoint = read_checkpoint(weights)
            state_dict = checkpoint_state_dict(checkpoint)
            if UniRepLKNet.state_dict_form(state_dict) == 'deploy':
                cfg.model.backbone['deploy'] = True
        else:
            warnings.warn(f'No weights given for {self.config_name}: the '
                          'model runs with random weights')
        self.cfg = cfg
        with warnings.catch_warnings():
            # the inferencers warn that no checkpoint is loaded (we load it
            # below) and set placeholder class names (replaced below)
            warnings.simplefilter('ignore')
            self.inferencer = self._build_inferencer(cfg, device)
        model = self.model
        if state_dict is not None:
            load_strict(model, state_dict, f'Weights {weights}',
                        f'config {self.config_name}')
        if deploy:
            backbone = getattr(model, 'backbone', None)
            if not hasattr(backbone, 'switch_to_deploy'):
                raise ValueError(
                    f'deploy=True needs a re-parameterisable backbone; the '
                    f'backbone of {self.config_name} is '
                    f'{type(backbone).__name__}')
            prepare_for_inference(model)
        model.eval()
        self.dataset_meta = resolve_dataset_meta(
            self.task, cfg, checkpoint.get('meta'),
            model_num_classes(model, self.task), palette)
        self._set_meta()

    def _build_inferencer(self, cfg: Config, device: str):
        # In the task's default scope: mmpretrain's inferencer builds its
        # pipeline in whatever scope is current, which an mmdet / mmseg
        # model or runner built earlier in the process leaves behind.
        with DefaultScope.overwrite_default_scope(SCOPE_OF_TASK[self.task]):
            if self.task == 'det':
                from mmdet.apis import DetInferencer
                inferencer = DetInferencer(
                    model=cfg, weights=None, device=device,
                    show_progress=False)
            elif self.task == 'seg':
                from mmseg.apis import MMSegInferencer
                inferencer = MMSegInferencer(
                    model=cfg, weights=None, device=device)
            else:
                from mmpretrain.apis import ImageClassificationInferencer
                inferencer = ImageClassificationInferencer(
                    model=cfg, pretrained=False, device=device)
        if not str(device).startswith('cuda'):
            inferencer.model = revert_sync_batchnorm(inferencer.model)
        inferencer.show_progress = False  # one image per call
        return inferencer

    @property
    def model(self) -> nn.Module:
        return self.inferencer.model

    def _set_meta(self) -> None:
        meta = dict(
            classes=self.dataset_meta['classes'],
            palette=self.dataset_meta['palette'])
        model = self.model
        if self.task == 'cls':
            model._dataset_meta = meta
            self.inferencer.classes = meta['classes']
        else:
            model.dataset_meta = meta
            visualizer = getattr(self.inferencer, 'visualizer', None)
            if visualizer is not None:
                visualizer.dataset_meta = meta

    @property
    def classes(self) -> Tuple[str, ...]:
        return self.dataset_meta['classes']

    @property
    def palette(self) -> List[Tuple[int, int, int]]:
        """RGB colour of each class."""
        return self.dataset_meta['palette']

    def predict(self, image: Union[str, np.ndarray]):
        """The data sample predicted for one image (a path or a BGR
        array)."""
        with torch.no_grad():
            out = self.inferencer(image, return_datasamples=True)
        # mmseg returns the data sample itself, mmdet / mmpretrain a dict
        # or a list
        predictions = out['predictions'] if isinstance(out, dict) else out
        if isinstance(predictions, (list, tuple)):
            predictions = predictions[0]
        return predictions
