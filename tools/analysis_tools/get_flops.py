# Copyright (c) mmunireplk contributors. All rights reserved.
"""Params and FLOPs (multiply-accumulates) of a model built from a config.

Works for detection (mmdet) and segmentation (mmseg) configs, and for
classifier configs (mmpretrain). Conventions (see
``complexity.py`` beside this script): ``--convention macs`` counts conv /
linear multiply-accumulates only (default), ``--convention mmcv`` follows
the mmcv 1.x counter of mmdet 2.x / mmseg 0.x ``get_flops.py``.

Examples::

    python tools/analysis_tools/get_flops.py \\
        configs/unireplknet/cascade-mask-rcnn_unireplknet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py \\
        --shape 800 1280
    python tools/analysis_tools/get_flops.py \\
        configs/unireplknet/upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py \\
        --shape 512 2048 --form deploy --out flops.json
"""
import argparse
import json
import os

from mmengine.config import Config, DictAction

from mmunireplk.apis.builder import build_model_from_config

# a module beside this script (its folder is on sys.path)
from complexity import FLOP_CONVENTIONS, get_complexity


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Params and FLOPs (MACs) of a model built from a config')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[800, 1280],
        help='input size: H W, or S for S x S')
    parser.add_argument(
        '--convention',
        choices=FLOP_CONVENTIONS,
        default='macs',
        help='macs: conv/linear multiply-accumulates; mmcv: the mmcv 1.x '
        'counter (adds biases, norms, ReLU, pooling)')
    parser.add_argument(
        '--form',
        choices=['config', 'training', 'deploy'],
        default='config',
        help='backbone form: as the config builds it, the training '
        'structure, or the re-parameterised deploy structure')
    parser.add_argument(
        '--num-proposals',
        type=int,
        default=1000,
        help='random proposals fed to two-stage RoI heads')
    parser.add_argument(
        '--num-mask-rois',
        type=int,
        default=100,
        help='RoIs fed to each mask head')
    parser.add_argument(
        '--exclude-aux-head',
        action='store_true',
        help='leave the auxiliary head (training only) out of the params; '
        'with --form deploy this is the convention of the paper tables')
    parser.add_argument('--out', help='also write the result as JSON here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, e.g. model.backbone.arch=s')
    return parser.parse_args()


def input_shape(shape) -> tuple:
    if len(shape) == 1:
        return (shape[0], shape[0])
    if len(shape) == 2:
        return tuple(shape)
    raise ValueError(f'--shape takes H W or S, got {shape}')


def main() -> None:
    args = parse_args()
    shape = input_shape(args.shape)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model_from_config(cfg, form=args.form)
    result = get_complexity(
        model,
        shape,
        convention=args.convention,
        num_proposals=args.num_proposals,
        num_mask_rois=args.num_mask_rois,
        exclude_aux_head=args.exclude_aux_head)
    backbone = getattr(model, 'backbone', None)
    form = 'deploy' if getattr(backbone, 'deploy', False) else 'training'
    split = '=' * 40
    print(split)
    print(f'Config: {args.config}')
    print(f'Input shape: (3, {shape[0]}, {shape[1]})')
    aux = ', aux head excluded from params' if args.exclude_aux_head else ''
    print(f'Convention: {args.convention}; backbone form: {form}{aux}')
    print(f'Flops: {result["flops"] / 1e9:.2f} G')
    print(f'Params: {result["params"] / 1e6:.2f} M')
    for part, flops in sorted(result['flops_per_part'].items()):
        if flops:
            print(f'  {part}: {flops / 1e9:.2f} G')
    print(split)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    config=args.config,
                    shape=list(shape),
                    convention=args.convention,
                    form=form,
                    num_proposals=args.num_proposals,
                    num_mask_rois=args.num_mask_rois,
                    exclude_aux_head=args.exclude_aux_head,
                    **result),
                f,
                indent=2)


if __name__ == '__main__':
    main()
