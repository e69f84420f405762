# Copyright (c) mmunireplk contributors. All rights reserved.
"""Detection demo on CPU: generate data, train, evaluate COCO box/mask AP.

    python tools/demo_det.py [--work-dir work_dirs/det_demo] [--epochs N]

Cascade Mask R-CNN + UniRepLKNet-A from scratch on the generated shapes
dataset (``data/det_demo``, written by ``demo_det_data.py``); about 9
minutes on 2 CPU cores. Results: ``<work_dir>/metrics.json`` (the
convention of ``demo_utils.py``).
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

from demo_det_data import generate_demo_coco  # noqa: E402
from demo_utils import DemoSpec, run_demo_cli  # noqa: E402

DEMO_CONFIG = osp.join(
    osp.dirname(TOOLS_DIR), 'configs', '_demo_',
    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_det-demo.py')
#: COCO metrics the demo prints (``coco/<name>``).
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'segm_mAP',
            'segm_mAP_50', 'segm_mAP_75')


def point_evaluators_to_data(cfg: Config, data_root: str) -> None:
    """Point the COCO evaluators at the annotations under ``data_root``."""
    for evaluator in ('val_evaluator', 'test_evaluator'):
        if cfg.get(evaluator):
            cfg[evaluator].ann_file = osp.join(
                data_root, 'annotations/instances_val.json')


def set_epochs(cfg: Config, epochs: int) -> None:
    """Train ``epochs`` epochs; epoch-based lr steps beyond them are cut."""
    cfg.train_cfg.max_epochs = epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get('by_epoch', True):
            scheduler.end = epochs
            scheduler.milestones = [
                m for m in scheduler.get('milestones', []) if m < epochs
            ]


def coco_summary(metrics: dict) -> Dict[str, float]:
    """The :data:`REPORTED` COCO metrics; CocoMetric returns nothing at all
    when no detection passes the score threshold, which is an AP of 0."""
    return {
        key: round(float(metrics.get(f'coco/{key}', 0.)), 4)
        for key in REPORTED
    }


def summarize(metrics: Dict[str, dict]) -> List[str]:
    summary = coco_summary(metrics['single_scale'])
    lines = ['Detection demo (Cascade Mask R-CNN + UniRepLKNet-A, shapes '
             'dataset, val split):']
    if not metrics['single_scale']:
        lines.append('  no detection above the score threshold: AP is 0')
    lines += [
        f'  box AP  {summary["bbox_mAP"]:.3f}  '
        f'(AP50 {summary["bbox_mAP_50"]:.3f})',
        f'  mask AP {summary["segm_mAP"]:.3f}  '
        f'(AP50 {summary["segm_mAP_50"]:.3f})'
    ]
    return lines


def val_images(data_root: str) -> List[str]:
    """The validation images of the demo data."""
    return glob.glob(osp.join(data_root, 'val', '*.png'))


def det_demo_spec(config: str = DEMO_CONFIG) -> DemoSpec:
    """The detection demo with ``config`` (the demo config)."""
    return DemoSpec(
        task='det',
        config=config,
        generate=generate_demo_coco,
        data_params=dict(num_train=240, num_val=60, seed=0),
        point_evaluators_to_data=point_evaluators_to_data,
        summarize=summarize,
        val_images=val_images)


def main(argv=None) -> dict:
    return run_demo_cli(det_demo_spec(), argv, '--epochs', set_epochs)


if __name__ == '__main__':
    main()
