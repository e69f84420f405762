# Copyright (c) mmunireplk contributors. All rights reserved.
"""Classification demo on CPU: generate data, train, evaluate top-1/top-5.

    python tools/demo_cls.py [--work-dir work_dirs/cls_demo] [--epochs N]

mmpretrain ImageClassifier + UniRepLKNet-A from scratch on generated
5-class images (``data/cls_demo``, written by ``demo_cls_data.py``).
Results: ``<work_dir>/metrics.json`` (the convention of ``demo_utils.py``).
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

from demo_cls_data import generate_demo_imagenet  # noqa: E402
from demo_utils import DemoSpec, run_demo_cli  # noqa: E402

DEMO_CONFIG = osp.join(
    osp.dirname(TOOLS_DIR), 'configs', '_demo_', 'unireplknet-a_cls-demo.py')
# generate_demo_imagenet arguments of the measured demo
DEMO_DATA_PARAMS = dict(num_train=200, num_val=100, img_size=64, seed=0)


def set_max_epochs(cfg: Config, max_epochs: int) -> None:
    """Train ``max_epochs`` epochs: the one-epoch warm-up (shortened to
    what fits), the cosine decay and the last checkpoint follow."""
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be at least 1, got {max_epochs}')
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = max_epochs
    cfg.default_hooks.checkpoint.interval = max_epochs
    warmup, cosine = cfg.param_scheduler
    warmup.end = min(1, max_epochs)
    cosine.begin = warmup.end
    cosine.end = max(max_epochs, warmup.end + 1)


def summarize(metrics: Dict[str, dict]) -> List[str]:
    lines = ['Classification demo (UniRepLKNet-A, 5-class generated '
             'ImageNet-folder data, validation split; chance: top-1 20):']
    for mode, values in metrics.items():
        lines.append(f'  {mode:12s} top-1 {values["accuracy/top1"]:.1f}  '
                     f'top-5 {values["accuracy/top5"]:.1f}')
    return lines


def val_images(data_root: str) -> List[str]:
    """The validation images of the demo data."""
    return glob.glob(osp.join(data_root, 'val', '*', '*.png'))


def cls_demo_spec(config: str = DEMO_CONFIG) -> DemoSpec:
    """The classification demo with ``config`` (the demo config)."""
    return DemoSpec(
        task='cls',
        config=config,
        generate=generate_demo_imagenet,
        data_params=dict(DEMO_DATA_PARAMS),
        summarize=summarize,
        val_images=val_images,
        evaluations=('single_scale', ))


def main(argv=None) -> dict:
    return run_demo_cli(cls_demo_spec(), argv, '--epochs', set_max_epochs)


if __name__ == '__main__':
    main()
