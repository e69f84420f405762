# Copyright (c) mmunireplk contributors. All rights reserved.
"""The CPU segmentation demo (see :mod:`mmunireplk.utils.demo`)."""
import glob
import os.path as osp
from typing import Dict, List

from mmengine.config import Config

from mmunireplk.utils.demo import DemoSpec
from .demo_data import generate_ade20k_demo


def set_max_iters(cfg: Config, max_iters: int) -> None:
    """Train ``max_iters`` iterations: warm-up, poly decay and the last
    checkpoint follow."""
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.interval = max_iters
    warmup, poly = cfg.param_scheduler
    warmup.end = max(1, min(20, max_iters // 10))
    poly.end = max_iters


def summarize(metrics: Dict[str, dict]) -> List[str]:
    lines = ['Segmentation demo (UPerNet + UniRepLKNet-A, ADE20K-layout '
             'demo data, validation split):']
    for mode, values in metrics.items():
        lines.append(f'  {mode:12s} mIoU {values["mIoU"]:.2f}  aAcc '
                     f'{values["aAcc"]:.2f}  mAcc {values["mAcc"]:.2f}')
    return lines


def val_images(data_root: str) -> List[str]:
    """The validation images of the demo data."""
    return glob.glob(osp.join(data_root, 'images', 'validation', '*.jpg'))


def seg_demo_spec(config: str) -> DemoSpec:
    """The segmentation demo with ``config`` (the demo config)."""
    return DemoSpec(
        task='seg',
        config=config,
        generate=generate_ade20k_demo,
        data_params=dict(num_train=48, num_val=12, seed=0),
        summarize=summarize,
        val_images=val_images,
        evaluations=('single_scale', 'multi_scale'))
