# Copyright (c) mmunireplk contributors. All rights reserved.
"""Run a predictor over many images: one picture and one JSON per image."""
import glob
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from .inference import ImagePredictor, prediction_to_dict, read_image
from .visualization import draw_prediction


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
        from mmengine.utils import track_iter_progress
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
