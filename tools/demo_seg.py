# Copyright (c) mmunireplk contributors. All rights reserved.
"""Segmentation demo on CPU: generate data, train, evaluate ss and ms mIoU.

    python tools/demo_seg.py [--work-dir work_dirs/seg_demo] [--max-iters N]

UPerNet + UniRepLKNet-A from scratch on the generated ADE20K-layout data
(``data/seg_demo``, written by ``demo_seg_data.py``), evaluated
single-scale and multi-scale + flip (the config's TTA); about 2 minutes on
2 CPU cores. Results: ``<work_dir>/metrics.json`` (the convention of
``demo_utils.py``).
"""
import glob
import os.path as osp
import sys
from typing import Dict, List

TOOLS_DIR = osp.dirname(osp.abspath(__file__))
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(TOOLS_DIR))

from mmengine.config import Config  # noqa: E402

from demo_seg_data import generate_ade20k_demo  # noqa: E402
from demo_utils import DemoSpec, run_demo_cli  # noqa: E402

DEMO_CONFIG = osp.join(
    osp.dirname(TOOLS_DIR), 'configs', '_demo_',
    'upernet_unireplknet-a_seg-demo.py')


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


def seg_demo_spec(config: str = DEMO_CONFIG) -> DemoSpec:
    """The segmentation demo with ``config`` (the demo config)."""
    return DemoSpec(
        task='seg',
        config=config,
        generate=generate_ade20k_demo,
        data_params=dict(num_train=48, num_val=12, seed=0),
        summarize=summarize,
        val_images=val_images,
        evaluations=('single_scale', 'multi_scale'))


def main(argv=None) -> dict:
    return run_demo_cli(seg_demo_spec(), argv, '--max-iters', set_max_iters)


if __name__ == '__main__':
    main()
