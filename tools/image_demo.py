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
import glob
import json
import os
import os.path as osp
import pickle
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence

TOOLS_DIR = osp.dirname(osp.abspath(__file__))
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(TOOLS_DIR))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.utils import track_iter_progress  # noqa: E402

from mmunireplk.apis import ImagePredictor, find_model  # noqa: E402
from mmunireplk.apis.inference import PALETTE_CHOICES  # noqa: E402
from mmunireplk.checkpoint import (add_trust_argument,  # noqa: E402
                                   install_safe_loaders, set_trust_env)
from visualization import draw_prediction, read_image  # noqa: E402


def collect_images(inputs: str) -> List[str]:
    """The files named by ``inputs``: one file, every file under a folder
    (recursively, hidden files left out) or the files a glob matches.

    Raises:
        FileNotFoundError: If nothing matches.
    """
    if osp.isdir(inputs):
        files = []
        for root, dirs, names in os.walk(inputs):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            files += [
                osp.join(root, n) for n in sorted(names)
                if not n.startswith('.')
            ]
    elif osp.isfile(inputs):
        files = [inputs]
    elif glob.has_magic(inputs):
        files = sorted(f for f in glob.glob(inputs, recursive=True)
                       if osp.isfile(f))
    else:
        raise FileNotFoundError(f'No such image, folder or glob: {inputs}')
    if not files:
        raise FileNotFoundError(f'No files found in {inputs}')
    return files


def _output_names(files: Sequence[str], inputs: str) -> List[str]:
    """Unique output stems: paths relative to an input folder, else base
    names (``_1``, ``_2``, ... added where they collide)."""
    root = inputs if osp.isdir(inputs) else None
    names, seen = [], set()
    for f in files:
        stem = osp.splitext(osp.relpath(f, root) if root else
                            osp.basename(f))[0]
        stem = stem.replace(os.sep, '__')
        name, i = stem, 0
        while name in seen:
            i += 1
            name = f'{stem}_{i}'
        seen.add(name)
        names.append(name)
    return names


def prediction_to_dict(sample: Any,
                       task: str,
                       classes: Sequence[str],
                       score_thr: float = 0.0,
                       topk: int = 5) -> dict:
    """A JSON-serialisable summary of one prediction.

    det: instances scoring at least ``score_thr`` (label, name, score, box
    ``[x1, y1, x2, y2]``, mask as COCO RLE); seg: image size and the area of
    each predicted class; cls: the ``topk`` classes with their scores.
    """
    def name(i: int) -> str:
        return classes[i] if 0 <= i < len(classes) else f'class_{i}'

    if task == 'det':
        inst = sample.pred_instances
        scores = inst.scores.detach().cpu().numpy()
        keep = np.flatnonzero(scores >= score_thr)
        labels = inst.labels.detach().cpu().numpy()
        boxes = inst.bboxes.detach().cpu().numpy()
        masks = None
        if 'masks' in inst:
            masks = inst.masks
            masks = masks.detach().cpu().numpy() if isinstance(
                masks, torch.Tensor) else np.asarray(masks)
        items = []
        for i in keep:
            item = dict(
                label=int(labels[i]),
                name=name(int(labels[i])),
                score=round(float(scores[i]), 5),
                bbox=[round(float(v), 2) for v in boxes[i]])
            if masks is not None:
                # pycocotools comes with mmdet: needed for detection only
                import pycocotools.mask as mask_util
                rle = mask_util.encode(
                    np.asfortranarray(masks[i].astype(np.uint8)))
                item['mask'] = dict(
                    size=[int(s) for s in rle['size']],
                    counts=rle['counts'].decode('ascii'))
            items.append(item)
        return dict(task='det', score_thr=score_thr, instances=items)
    if task == 'seg':
        seg = sample.pred_sem_seg.data.detach().cpu().numpy()[0]
        values, counts = np.unique(seg, return_counts=True)
        order = np.argsort(-counts)
        total = float(seg.size)
        return dict(
            task='seg',
            height=int(seg.shape[0]),
            width=int(seg.shape[1]),
            classes=[
                dict(
                    label=int(values[i]),
                    name=name(int(values[i])),
                    pixels=int(counts[i]),
                    fraction=round(counts[i] / total, 5)) for i in order
            ])
    scores = sample.pred_score.detach().cpu().float().numpy()
    order = np.argsort(-scores)[:topk]
    return dict(
        task='cls',
        topk=[
            dict(label=int(i), name=name(int(i)),
                 score=round(float(scores[i]), 5)) for i in order
        ])


def run_image_demo(predictor: ImagePredictor,
                   inputs: str,
                   out_dir: str,
                   score_thr: float = 0.3,
                   topk: int = 5,
                   progress: bool = True,
                   vis_min_size: int = 0) -> Dict[str, list]:
    """Predict every image of ``inputs`` and write ``out_dir/vis/NAME.png``
    (the visualised prediction) and ``out_dir/preds/NAME.json`` (plus
    ``out_dir/preds/NAME.png``, the label map, for segmentation).

    Files that cannot be read as images are skipped, each named in a
    warning. Pictures of images whose shorter side is below
    ``vis_min_size`` are drawn upscaled (0: original size).

    Returns:
        dict: ``written`` (input paths done) and ``skipped`` (input paths
        that are no readable image).
    """
    files = collect_images(inputs)
    names = _output_names(files, inputs)
    vis_dir, pred_dir = osp.join(out_dir, 'vis'), osp.join(out_dir, 'preds')
    os.makedirs(vis_dir, exist_ok=True)
    os.makedirs(pred_dir, exist_ok=True)
    written: List[str] = []
    skipped: List[str] = []
    pairs = list(zip(files, names))
    if progress and len(pairs) > 1:
        pairs = track_iter_progress(pairs)
    for path, name in pairs:
        img = read_image(path)
        if img is None:
            warnings.warn(f'Skipped {path}: not a readable image')
            skipped.append(path)
            continue
        sample = predictor.predict(img)
        vis = draw_prediction(img[..., ::-1].copy(), sample, predictor.task,
                              predictor.classes, predictor.palette,
                              score_thr, topk, min_size=vis_min_size)
        cv2.imwrite(osp.join(vis_dir, name + '.png'), vis[..., ::-1])
        record = dict(
            image=path,
            height=int(img.shape[0]),
            width=int(img.shape[1]),
            config=predictor.config_name)
        record.update(
            prediction_to_dict(sample, predictor.task, predictor.classes,
                               score_thr, topk))
        if predictor.task == 'seg':
            seg = sample.pred_sem_seg.data.cpu().numpy()[0]
            dtype = np.uint8 if len(predictor.classes) <= 255 else np.uint16
            cv2.imwrite(osp.join(pred_dir, name + '.png'), seg.astype(dtype))
            record['label_map'] = osp.join(pred_dir, name + '.png')
        with open(osp.join(pred_dir, name + '.json'), 'w') as f:
            json.dump(record, f, indent=1)
        written.append(path)
    return dict(written=written, skipped=skipped)


def summary_line(result: Dict[str, list], out_dir: str,
                 total: Optional[int] = None) -> str:
    """One line: images written, images skipped (named) and where."""
    written, skipped = result['written'], result['skipped']
    total = total if total is not None else len(written) + len(skipped)
    line = (f'{len(written)} of {total} files predicted, results in '
            f'{out_dir} (vis/, preds/); {len(skipped)} skipped')
    if skipped:
        line += ' (not readable images): ' + ', '.join(skipped[:10])
        if len(skipped) > 10:
            line += f', ... ({len(skipped) - 10} more)'
    return line


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
    # ImagePredictor reads the weights itself; anything else the config
    # makes mmengine load is read weights-only too
    install_safe_loaders()
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
