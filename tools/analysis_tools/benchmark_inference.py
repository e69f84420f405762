# Copyright (c) mmunireplk contributors. All rights reserved.
"""Inference speed of a detector or segmentor built from a config.

In the style of mmdet / mmseg ``benchmark.py``: images go through the
config's test pipeline and the model's ``test_step`` (mmdet
``inference_detector`` / mmseg ``inference_model``), so the figure is
end-to-end images/s. Images are generated (random, fixed seed) at
``--shape`` unless ``--images`` names files. ``--deploy`` times the fastest
inference form (:func:`mmunireplk.deploy.prepare_for_inference`:
re-parameterised backbone, gradients off); ``--compile`` also compiles the
backbone with ``torch.compile``. The task is read off the config.

Example::

    python tools/analysis_tools/benchmark_inference.py \\
        configs/_demo_/upernet_unireplknet-a_seg-demo.py --deploy \\
        --num-images 20 --shape 512 683
"""
import argparse
import json
import os
import time
from typing import Callable, List

import numpy as np
import torch
from mmengine.config import Config, DictAction

from mmunireplk.apis.builder import build_model_from_config
from mmunireplk.deploy import prepare_for_inference
from mmunireplk.utils import detect_task, sync_bn_to_bn


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='End-to-end inference speed of a detector / segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (optional)')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='time the fastest inference form (prepare_for_inference)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also torch.compile the backbone (implies --deploy)')
    parser.add_argument(
        '--images', nargs='+', help='image files (default: generated)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[480, 640],
        metavar=('H', 'W'),
        help='size of generated images')
    parser.add_argument('--num-images', type=int, default=10)
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed images first')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--out', help='write the result as JSON here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config')
    return parser.parse_args()


def make_images(args: argparse.Namespace) -> List:
    """Image files or generated uint8 BGR images, ``--num-images`` long."""
    if args.images:
        return [args.images[i % len(args.images)]
                for i in range(args.num_images)]
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, (*args.shape, 3), dtype=np.uint8)
        for _ in range(min(args.num_images, 4))
    ]


def drop_annotation_loading(cfg: Config) -> None:
    """Remove label-loading transforms from the test pipelines (the
    benchmark images have no annotations)."""

    def keep(step) -> bool:
        return 'Annotations' not in str(step.get('type', ''))

    if cfg.get('test_pipeline') is not None:
        cfg.test_pipeline = [s for s in cfg.test_pipeline if keep(s)]
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    if dataset.get('pipeline') is not None:
        dataset.pipeline = [s for s in dataset.pipeline if keep(s)]


def inference_fn(task: str) -> Callable:
    """The mmdet / mmseg single-image inference API for ``task``."""
    if task == 'det':
        from mmdet.apis import inference_detector
        return inference_detector
    if task == 'seg':
        from mmseg.apis import inference_model
        return inference_model
    raise ValueError(f'cannot tell a detection or segmentation config '
                     f'(task {task!r}); set default_scope to mmdet or mmseg')


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.num_images <= 0 or args.warmup < 0:
        raise ValueError('--num-images must be positive, --warmup >= 0')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if not args.device.startswith('cuda'):
        sync_bn_to_bn(cfg)
    drop_annotation_loading(cfg)
    task = detect_task(cfg)
    infer = inference_fn(task)
    deploy = args.deploy or args.compile
    model = build_model_from_config(
        cfg, args.checkpoint, form='deploy' if deploy else 'config')
    if args.compile:
        prepare_for_inference(model, compile=True)
    model.cfg = cfg
    model.to(args.device)

    images = make_images(args)
    for i in range(args.warmup):
        infer(model, images[i % len(images)])
    seconds = []
    for i in range(args.num_images):
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        infer(model, images[i % len(images)])
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    total = sum(seconds)
    result = dict(
        config=args.config,
        task=task,
        deploy=bool(getattr(model.backbone, 'deploy', False)),
        compiled=args.compile,
        device=args.device,
        threads=torch.get_num_threads(),
        num_images=args.num_images,
        image_shape=None if args.images else list(args.shape),
        img_per_s=args.num_images / total,
        ms_per_img_mean=1000 * total / args.num_images,
        ms_per_img_best=1000 * min(seconds))
    form = 'deploy' if result['deploy'] else 'training'
    if args.compile:
        form += ' (compiled)'
    print(f'{task} {form} form, {args.num_images} images: '
          f'{result["img_per_s"]:.2f} img/s '
          f'({result["ms_per_img_mean"]:.0f} ms/img mean, '
          f'{result["ms_per_img_best"]:.0f} ms best)')
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
