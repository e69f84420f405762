# Copyright (c) mmunireplk contributors. All rights reserved.
"""Run a detector, segmentor or classifier on your own images.

    python tools/image_demo.py INPUTS CONFIG [--weights CKPT]
        [--out-dir DIR] [--device cpu|cuda] [--deploy] [--score-thr T]
        [--palette auto|random|coco|ade20k|cityscapes|voc] [--topk K]
        [--vis-min-size N] [--cfg-options k=v ...] [--trust-checkpoint]

INPUTS is an image, a folder (every file under it) or a quoted glob. The
task (mmdet / mmseg / mmpretrain) is read off CONFIG, which may also be a
model name of ``model-index.yml``. For each image it writes
``OUT_DIR/vis/NAME.png`` (boxes + masks + labels, a colour overlay with a
legend, or the top-k classes) and ``OUT_DIR/preds/NAME.json`` (for
segmentation also ``OUT_DIR/preds/NAME.png``, the label map). Files that
are no readable image are skipped with a warning and counted in the
summary line. Weights are read weights-only; ``--trust-checkpoint`` opts in
to full unpickling for a file you trust.
"""
import argparse
import os.path as osp
import pickle
import sys
import warnings

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmunireplk  # noqa: F401

from mmengine.config import DictAction

from mmunireplk.apis import (ImagePredictor, collect_images, run_image_demo,
                             summary_line)
from mmunireplk.apis.inference import PALETTE_CHOICES
from mmunireplk.apis.model_index import find_model
from mmunireplk.checkpoint import add_trust_argument, set_trust_env


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run a UniRepLKNet model on images')
    parser.add_argument('inputs', help='an image, a folder or a glob')
    parser.add_argument(
        'config', help='config file, or a model name of model-index.yml')
    parser.add_argument('--weights', help='checkpoint file')
    parser.add_argument(
        '--out-dir', default='outputs', help='output folder')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='re-parameterise the backbone first (fastest inference form)')
    parser.add_argument(
        '--score-thr', type=float, default=0.3,
        help='detection score threshold (pictures and JSON)')
    parser.add_argument(
        '--palette', default='auto', choices=PALETTE_CHOICES,
        help='class colours: auto (checkpoint meta, config, then the '
        'COCO/ADE20K default), random, or a dataset\'s palette')
    parser.add_argument(
        '--topk', type=int, default=5, help='classes listed (classification)')
    parser.add_argument(
        '--vis-min-size', type=int, default=0,
        help='upscale pictures of smaller images to this shorter side '
        '(default 0: original size)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='config overrides, e.g. model.test_cfg.rcnn.max_per_img=50')
    add_trust_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    set_trust_env(args.trust_checkpoint)
    try:
        config = args.config
        if not osp.isfile(config):
            config = find_model(config)['config']
        total = len(collect_images(args.inputs))
        predictor = ImagePredictor(
            config,
            args.weights,
            device=args.device,
            deploy=args.deploy,
            palette=args.palette,
            cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as e:
        sys.exit(f'image_demo.py: error: {e}')
    warnings.simplefilter('always', UserWarning)
    result = run_image_demo(predictor, args.inputs, args.out_dir,
                            args.score_thr, args.topk,
                            vis_min_size=args.vis_min_size)
    print(summary_line(result, args.out_dir, total))
    return result


if __name__ == '__main__':
    main()
