# Copyright (c) mmunireplk contributors. All rights reserved.
"""Params / FLOPs of the UniRepLKNet configs side by side with the paper.

Counts every detection config at 800x1280 and every segmentation config at
512x2048 (640x2560 for the 640 models) under both FLOP conventions, and the
ImageNet classifiers (deploy backbone + 1000-class head) at 224 / 384, and
prints Markdown tables with the relative differences.

Example::

    python tools/analysis_tools/flops_table.py --task det seg imagenet \\
        --form deploy --exclude-aux-head --out work_dirs/flops_table.json
"""
import argparse
import json
import os
import os.path as osp
import time

import torch.nn as nn
from mmengine.config import Config

from mmunireplk.apis.builder import build_model_from_config
from mmunireplk.models.backbones import UniRepLKNet

# a module beside this script (its folder is on sys.path)
from complexity import get_complexity

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs',
                      'unireplknet')
DET = 'cascade-mask-rcnn_unireplknet-{}_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
SEG = 'upernet_unireplknet-{}_8xb2-160k_ade20k-{}.py'
# (config, input H x W, paper params M, paper FLOPs G)
PAPER = {
    'det': [(DET.format('t'), (800, 1280), 89, 749),
            (DET.format('s'), (800, 1280), 113, 835),
            (DET.format('s-in22k'), (800, 1280), 113, 835),
            (DET.format('b-in22k'), (800, 1280), 155, 978),
            (DET.format('l-in22k'), (800, 1280), 276, 1385),
            (DET.format('xl-in22k'), (800, 1280), 443, 1952)],
    'seg': [(SEG.format('t', '512x512'), (512, 2048), 61, 946),
            (SEG.format('s', '512x512'), (512, 2048), 86, 1036),
            (SEG.format('s-in22k', '512x512'), (512, 2048), 86, 1036),
            (SEG.format('s-in22k', '640x640'), (640, 2560), 86, 1618),
            (SEG.format('b-in22k', '640x640'), (640, 2560), 130, 1850),
            (SEG.format('l-in22k', '640x640'), (640, 2560), 254, 2507),
            (SEG.format('xl-in22k', '640x640'), (640, 2560), 425, 3420)],
}
# arch, resolution, paper params M, paper FLOPs G (deploy, 1000 classes)
IMAGENET = [('atto', 224, 4.4, 0.6), ('femto', 224, 6.2, 0.9),
            ('pico', 224, 10.7, 1.6), ('nano', 224, 18.3, 2.8),
            ('tiny', 224, 31, 4.9), ('small', 224, 56, 9.1),
            ('base', 384, 98, 47.2), ('large', 384, 218, 105.4),
            ('xlarge', 384, 386, 187)]


class ImageNetClassifier(nn.Module):
    """Backbone + global pooling + LayerNorm + linear head (reference)."""

    def __init__(self, arch: str, num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = UniRepLKNet(arch, out_indices=(3, ), deploy=True)
        dim = self.backbone.dims[-1]
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.head(self.norm(self.backbone(x)[-1].mean(dim=(2, 3))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Params/FLOPs of the configs vs the paper')
    parser.add_argument(
        '--task',
        nargs='+',
        choices=['det', 'seg', 'imagenet'],
        default=['det', 'seg', 'imagenet'])
    parser.add_argument(
        '--form',
        choices=['config', 'training', 'deploy'],
        default='deploy',
        help='backbone form of the det/seg models (the paper: deploy)')
    parser.add_argument(
        '--exclude-aux-head',
        action='store_true',
        help='leave segmentation auxiliary heads out of the params')
    parser.add_argument('--config-dir', default=CONFIG_DIR)
    parser.add_argument('--out', help='write all figures as JSON here')
    return parser.parse_args()


def fmt(value: float) -> str:
    return f'{value:.2f}' if value < 10 else f'{value:.1f}'


def diff(ours: float, paper: float) -> str:
    return f'{100 * (ours - paper) / paper:+.1f}%'


def main() -> None:
    args = parse_args()
    records = []
    for task in args.task:
        if task == 'imagenet':
            rows = [(f'UniRepLKNet-{arch[0].upper()}', res,
                     ImageNetClassifier(arch), p_params, p_flops)
                    for arch, res, p_params, p_flops in IMAGENET]
            rows = [(name, (res, res), model, pp, pf)
                    for name, res, model, pp, pf in rows]
        else:
            rows = []
            for config, shape, p_params, p_flops in PAPER[task]:
                path = osp.join(args.config_dir, config)
                if not osp.exists(path):
                    print(f'missing config {path}, skipped')
                    continue
                rows.append((config, shape, path, p_params, p_flops))
        print(f'\n{task} (form: '
              f'{"deploy" if task == "imagenet" else args.form})\n')
        print('| model | input | params (ours / paper) | FLOPs macs (ours / '
              'paper) | FLOPs mmcv-style |')
        print('|---|---|---|---|---|')
        for name, shape, model, p_params, p_flops in rows:
            start = time.time()
            if isinstance(model, str):
                model = build_model_from_config(
                    Config.fromfile(model), form=args.form)
            result = get_complexity(
                model, shape, exclude_aux_head=args.exclude_aux_head)
            params = result['params'] / 1e6
            flops = result['flops'] / 1e9
            mmcv = result['flops_by_convention']['mmcv'] / 1e9
            print(f'| {name} | {shape[0]}x{shape[1]} | {fmt(params)}M / '
                  f'{p_params}M ({diff(params, p_params)}) | {fmt(flops)}G / '
                  f'{p_flops}G ({diff(flops, p_flops)}) | {fmt(mmcv)}G '
                  f'({diff(mmcv, p_flops)}) |', flush=True)
            records.append(
                dict(
                    task=task,
                    model=name,
                    shape=list(shape),
                    form='deploy' if task == 'imagenet' else args.form,
                    exclude_aux_head=args.exclude_aux_head,
                    params=result['params'],
                    flops_macs=result['flops'],
                    flops_mmcv=result['flops_by_convention']['mmcv'],
                    paper_params_m=p_params,
                    paper_flops_g=p_flops,
                    seconds=time.time() - start))
            del model
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(records, f, indent=2)


if __name__ == '__main__':
    main()
