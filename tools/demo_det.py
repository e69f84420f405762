# Copyright (c) mmunireplk contributors. All rights reserved.
"""Detection demo: generate the shapes dataset, train, evaluate, report.

    python tools/demo_det.py            # about 9 minutes on 2 CPU cores

Writes the COCO-format demo dataset to ``data/det_demo`` when missing,
trains Cascade Mask R-CNN + UniRepLKNet-A from scratch on CPU (or GPU when
present), evaluates COCO box and mask AP on the validation split, prints
them and writes them to ``<work_dir>/metrics.json``.
"""
import argparse
import json
import os.path as osp
import sys
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmunireplk.det import demo_data_ready, generate_demo_coco
from mmunireplk.utils.runtime import adapt_to_cpu, use_atomic_checkpoints

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(
    ROOT, 'configs', '_demo_',
    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_det-demo.py')
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'segm_mAP',
            'segm_mAP_50', 'segm_mAP_75')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='CPU detection demo')
    parser.add_argument('--config', default=DEMO_CONFIG, help='demo config')
    parser.add_argument(
        '--data-root', default='data/det_demo', help='demo dataset dir')
    parser.add_argument(
        '--work-dir', default='work_dirs/det_demo', help='output dir')
    parser.add_argument(
        '--epochs', type=int, help='override the number of epochs')
    parser.add_argument(
        '--num-train', type=int, default=240, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=60, help='validation images')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch CPU threads of the training process (default 1: with '
        'one data worker this uses 2 cores, and it does not collapse when '
        'other jobs share the CPU, unlike multi-threaded OpenMP)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """The demo config pointed at ``data_root`` and ``work_dir``."""
    cfg = Config.fromfile(args.config)
    data_root = osp.join(args.data_root, '')
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    cfg.test_evaluator.ann_file = osp.join(data_root,
                                           'annotations/instances_val.json')
    # evaluate once, after training, through runner.test()
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        for scheduler in cfg.param_scheduler:
            if scheduler.get('by_epoch', True):
                scheduler.end = args.epochs
                scheduler.milestones = [
                    m for m in scheduler.get('milestones', [])
                    if m < args.epochs
                ]
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    return cfg


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = time.time()
    if not demo_data_ready(args.data_root):
        print(f'Generating the demo dataset in {args.data_root} ...')
        generate_demo_coco(
            args.data_root, num_train=args.num_train, num_val=args.num_val)
    cfg = build_config(args)
    messages = adapt_to_cpu(cfg, 'none')
    use_atomic_checkpoints(cfg)
    runner = Runner.from_cfg(cfg)
    for message in messages:
        runner.logger.info(message)
    runner.train()
    train_time = time.time() - start
    metrics = runner.test()
    total_time = time.time() - start

    # CocoMetric returns no metrics at all when the model made no detection
    # above the test score threshold: that is an AP of 0.
    result = {
        key: round(float(metrics.get(f'coco/{key}', 0.)), 4)
        for key in REPORTED
    }
    if not metrics:
        print('No detection above the score threshold: AP is 0')
    result.update(
        epochs=cfg.train_cfg.max_epochs,
        train_seconds=round(train_time, 1),
        total_seconds=round(total_time, 1),
        config=osp.relpath(args.config, ROOT),
        data_root=args.data_root)
    json_path = osp.join(args.work_dir, 'metrics.json')
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=2)
    print('\nDetection demo (Cascade Mask R-CNN + UniRepLKNet-A, shapes '
          'dataset, val split):')
    print(f'  box AP  {result["bbox_mAP"]:.3f}  '
          f'(AP50 {result["bbox_mAP_50"]:.3f})')
    print(f'  mask AP {result["segm_mAP"]:.3f}  '
          f'(AP50 {result["segm_mAP_50"]:.3f})')
    print(f'  {result["epochs"]} epochs, {total_time / 60:.1f} min in total; '
          f'metrics written to {json_path}')
    return result


if __name__ == '__main__':
    main()
