# Copyright (c) mmunireplk contributors. All rights reserved.
"""Pictures of predictions: one image, or a grid of several in one PNG.

Detection: masks, boxes and ``name score`` labels; segmentation: colour
overlay and a legend of the classes present; classification: the top-k
classes with their scores. Drawn with OpenCV on RGB arrays.

A module of ``tools/`` used by ``image_demo.py`` and the demos
(``demo_utils.py``); :func:`save_prediction_grid` draws a model's
predictions on several images into one PNG.
"""
import os
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from PIL import Image

from mmunireplk.apis import ImagePredictor
from mmunireplk.apis.inference import ConfigType

Colour = Tuple[int, int, int]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def read_image(path: str) -> Optional[np.ndarray]:
    """Read an image file as a BGR ``uint8`` array, or None if the file is
    unreadable or not an image."""
    try:
        img = mmcv.imread(path)
    except Exception:  # noqa: BLE001 (any decoder failure means "skip")
        return None
    if img is None or img.ndim != 3 or img.size == 0:
        return None
    return img


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, 'to_ndarray'):  # mmdet BitmapMasks
        return x.to_ndarray()
    return np.asarray(x)


def _text_size(text: str, scale: float, thickness: int) -> Tuple[int, int]:
    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    return w, h + baseline


def _put_label(img: np.ndarray, text: str, x: int, y: int, colour: Colour,
               scale: float, thickness: int) -> None:
    """A text label on a filled box of ``colour``, top-left at (x, y)."""
    w, h = _text_size(text, scale, thickness)
    height, width = img.shape[:2]
    x = int(min(max(x, 0), max(width - w - 2, 0)))
    y = int(min(max(y, 0), max(height - h - 2, 0)))
    cv2.rectangle(img, (x, y), (x + w + 2, y + h + 2), colour, -1)
    bright = sum(colour) > 3 * 150
    cv2.putText(img, text, (x + 1, y + h - 2), _FONT, scale,
                (0, 0, 0) if bright else (255, 255, 255), thickness,
                cv2.LINE_AA)


def _scales(img: np.ndarray) -> Tuple[float, int]:
    size = min(img.shape[:2])
    scale = max(0.4, size / 600)
    return scale, max(1, int(round(scale * 1.5)))


def _upscale(image: np.ndarray, min_size: int) -> float:
    short = min(image.shape[:2])
    return float(int(np.ceil(min_size / short))) if short < min_size else 1.0


def draw_det(image: np.ndarray,
             instances: Any,
             classes: Sequence[str],
             palette: Sequence[Colour],
             score_thr: float = 0.3,
             alpha: float = 0.45,
             min_size: int = 0) -> np.ndarray:
    """Masks, boxes and labels of detections scoring at least
    ``score_thr`` on an RGB image (upscaled first to a shorter side of at
    least ``min_size`` pixels, so that labels stay legible)."""
    factor = _upscale(image, min_size) if min_size else 1.0
    img = image.copy()
    if factor != 1:
        img = cv2.resize(img, None, fx=factor, fy=factor,
                         interpolation=cv2.INTER_LINEAR)
    scores = _numpy(instances.scores)
    keep = np.flatnonzero(scores >= score_thr)
    keep = keep[np.argsort(scores[keep])]  # best drawn last, on top
    labels = _numpy(instances.labels).astype(int)
    boxes = _numpy(instances.bboxes).astype(np.float64) * factor
    masks = _numpy(instances.masks) if 'masks' in instances else None
    colours = [tuple(int(v) for v in palette[c % len(palette)])
               for c in labels]
    if masks is not None and len(keep):
        overlay = img.astype(np.float32)
        for i in keep:
            mask = masks[i].astype(np.uint8)
            if factor != 1:
                mask = cv2.resize(mask, (img.shape[1], img.shape[0]),
                                  interpolation=cv2.INTER_NEAREST)
            mask = mask.astype(bool)
            overlay[mask] = (1 - alpha) * overlay[mask] + alpha * np.array(
                colours[i], dtype=np.float32)
        img = overlay.round().clip(0, 255).astype(np.uint8)
    scale, thickness = _scales(img)
    for i in keep:
        x1, y1, x2, y2 = [int(round(v)) for v in boxes[i]]
        cv2.rectangle(img, (x1, y1), (x2, y2), colours[i], thickness)
        c = labels[i]
        name = classes[c] if 0 <= c < len(classes) else f'class_{c}'
        text = f'{name} {scores[i]:.2f}'
        _, h = _text_size(text, scale, thickness)
        _put_label(img, text, x1, y1 - h - 2 if y1 - h - 2 >= 0 else y1,
                   colours[i], scale, thickness)
    return img


def _legend(width: int, items: Sequence[Tuple[str, Colour]], scale: float,
            thickness: int) -> np.ndarray:
    """A white strip ``width`` wide with colour swatches and names,
    wrapped over as many rows as needed."""
    _, line_h = _text_size('Ag', scale, thickness)
    pad = max(2, line_h // 4)
    swatch = line_h
    rows: List[List[Tuple[str, Colour, int]]] = [[]]
    x = pad
    for name, colour in items:
        w = swatch + pad + _text_size(name, scale, thickness)[0] + 2 * pad
        if rows[-1] and x + w > width:
            rows.append([])
            x = pad
        rows[-1].append((name, colour, x))
        x += w
    strip = np.full((len(rows) * (line_h + pad) + pad, width, 3), 255,
                    np.uint8)
    for r, row in enumerate(rows):
        y = pad + r * (line_h + pad)
        for name, colour, x in row:
            cv2.rectangle(strip, (x, y), (x + swatch, y + line_h),
                          tuple(int(v) for v in colour), -1)
            cv2.rectangle(strip, (x, y), (x + swatch, y + line_h),
                          (0, 0, 0), 1)
            cv2.putText(strip, name, (x + swatch + pad, y + line_h - pad),
                        _FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return strip


def draw_seg(image: np.ndarray,
             seg_map: Any,
             classes: Sequence[str],
             palette: Sequence[Colour],
             alpha: float = 0.5,
             legend: bool = True,
             max_legend: int = 20,
             min_size: int = 0,
             with_input: bool = False) -> np.ndarray:
    """A colour overlay of a label map on an RGB image, with a legend of
    the (at most ``max_legend`` largest) classes present below it; with
    ``with_input``, the input image to its left."""
    seg = _numpy(seg_map).astype(np.int64)
    if seg.ndim == 3:
        seg = seg[0]
    factor = _upscale(image, min_size) if min_size else 1.0
    img = image
    if factor != 1:
        img = cv2.resize(img, None, fx=factor, fy=factor,
                         interpolation=cv2.INTER_LINEAR)
    if seg.shape != img.shape[:2]:
        seg = cv2.resize(seg.astype(np.int32), (img.shape[1], img.shape[0]),
                         interpolation=cv2.INTER_NEAREST).astype(np.int64)
    colours = np.array([tuple(c) for c in palette], dtype=np.float32)
    valid = (seg >= 0) & (seg < len(colours))
    out = img.astype(np.float32)
    out[valid] = (1 - alpha) * out[valid] + alpha * colours[seg[valid]]
    out = out.round().clip(0, 255).astype(np.uint8)
    if with_input:
        gap = np.full((out.shape[0], max(2, out.shape[1] // 40), 3), 255,
                      np.uint8)
        out = np.concatenate([img, gap, out], axis=1)
    if not legend:
        return out
    values, counts = np.unique(seg[valid], return_counts=True)
    order = values[np.argsort(-counts)][:max_legend]
    items = [(classes[v] if v < len(classes) else f'class_{v}',
              tuple(int(x) for x in colours[v])) for v in order]
    scale, thickness = _scales(out)
    return np.concatenate(
        [out, _legend(out.shape[1], items, scale * 0.9, thickness)], axis=0)


def draw_cls(image: np.ndarray,
             scores: Any,
             classes: Sequence[str],
             topk: int = 5,
             min_size: int = 0) -> np.ndarray:
    """The image with its top-k classes and scores in a strip below it."""
    factor = _upscale(image, min_size) if min_size else 1.0
    img = image
    if factor != 1:
        img = cv2.resize(img, None, fx=factor, fy=factor,
                         interpolation=cv2.INTER_LINEAR)
    scores = _numpy(scores).astype(np.float64)
    order = np.argsort(-scores)[:topk]
    scale, thickness = _scales(img)
    _, line_h = _text_size('Ag', scale, thickness)
    strip = np.full((len(order) * line_h + 6, img.shape[1], 3), 255,
                    np.uint8)
    for r, c in enumerate(order):
        name = classes[c] if c < len(classes) else f'class_{c}'
        cv2.putText(strip, f'{r + 1}. {name} {scores[c]:.3f}',
                    (4, (r + 1) * line_h), _FONT, scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return np.concatenate([img, strip], axis=0)


def draw_prediction(image: np.ndarray,
                    sample: Any,
                    task: str,
                    classes: Sequence[str],
                    palette: Sequence[Colour],
                    score_thr: float = 0.3,
                    topk: int = 5,
                    min_size: int = 0,
                    with_input: bool = False) -> np.ndarray:
    """Draw one data sample (``DetDataSample``, ``SegDataSample`` or
    mmpretrain ``DataSample``) on its RGB image (segmentation: beside the
    input image with ``with_input``)."""
    if task == 'det':
        return draw_det(image, sample.pred_instances, classes, palette,
                        score_thr, min_size=min_size)
    if task == 'seg':
        return draw_seg(image, sample.pred_sem_seg.data, classes, palette,
                        min_size=min_size, with_input=with_input)
    if task == 'cls':
        return draw_cls(image, sample.pred_score, classes, topk,
                        min_size=min_size)
    raise ValueError(f"task must be 'det', 'seg' or 'cls', got {task!r}")


def make_grid(panels: Sequence[np.ndarray],
              ncols: int = 4,
              captions: Optional[Sequence[str]] = None,
              pad: int = 6,
              background: Colour = (255, 255, 255)) -> np.ndarray:
    """Tile RGB panels (any sizes) into one image, each centred in a cell
    as large as the largest panel, with an optional caption above it."""
    if not panels:
        raise ValueError('make_grid needs at least one panel')
    if ncols < 1:
        raise ValueError(f'ncols must be at least 1, got {ncols}')
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    cell_h = max(p.shape[0] for p in panels)
    cell_w = max(p.shape[1] for p in panels)
    scale, thickness = 0.45, 1
    cap_h = _text_size('Ag', scale, thickness)[1] + 4 if captions else 0
    grid = np.full((nrows * (cell_h + cap_h + pad) + pad,
                    ncols * (cell_w + pad) + pad, 3), background, np.uint8)
    for i, panel in enumerate(panels):
        r, c = divmod(i, ncols)
        y0 = pad + r * (cell_h + cap_h + pad)
        x0 = pad + c * (cell_w + pad)
        if captions:
            text = str(captions[i])
            while len(text) > 4 and _text_size(text, scale,
                                               thickness)[0] > cell_w:
                text = '...' + text[4:]
            cv2.putText(grid, text, (x0, y0 + cap_h - 6), _FONT, scale,
                        (0, 0, 0), thickness, cv2.LINE_AA)
        h, w = panel.shape[:2]
        y = y0 + cap_h + (cell_h - h) // 2
        x = x0 + (cell_w - w) // 2
        grid[y:y + h, x:x + w] = panel
    return grid


def save_prediction_grid(config: ConfigType,
                         checkpoint: Optional[str],
                         image_paths: Sequence[str],
                         out_file: str,
                         task: Optional[str] = None,
                         device: str = 'cpu',
                         score_thr: float = 0.3,
                         deploy: bool = False,
                         ncols: int = 4,
                         max_images: int = 8,
                         panel_size: int = 256,
                         topk: int = 5,
                         palette: str = 'auto',
                         cfg_options: Optional[dict] = None,
                         with_input: bool = True,
                         png_colours: Optional[int] = None) -> str:
    """Run a model on images and write one PNG grid of its predictions.

    Detection panels show masks, boxes and labels; segmentation panels a
    colour overlay with a legend; classification panels the top-k classes.
    Each panel is captioned with its file name.

    Args:
        config (str | Config): Config file or object (the task is read off
            it unless ``task`` is given).
        checkpoint (str, optional): Weights, loaded strictly and
            weights-only (see :class:`mmunireplk.apis.ImagePredictor`);
            None means random weights.
        image_paths (Sequence[str]): Images; the first ``max_images``
            readable ones are drawn, unreadable ones are skipped.
        out_file (str): Output PNG path (folders are created).
        task (str, optional): ``'det'``, ``'seg'`` or ``'cls'``.
        device (str): Device. Defaults to ``'cpu'``.
        score_thr (float): Detection score threshold. Defaults to 0.3.
        deploy (bool): Re-parameterise the backbone first.
        ncols (int): Panels per row. Defaults to 4.
        max_images (int): At most this many panels. Defaults to 8.
        panel_size (int): Images are drawn with a shorter side of at least
            this many pixels. Defaults to 256.
        topk (int): Classes listed per classification panel.
        palette (str): See :func:`mmunireplk.apis.resolve_dataset_meta`.
        cfg_options (dict, optional): Config overrides.
        with_input (bool): Segmentation panels show the input image beside
            the overlay. Defaults to True.
        png_colours (int, optional): Quantise the PNG to this many colours
            (much smaller files, e.g. for documentation). Defaults to None
            (full colour).

    Returns:
        str: ``out_file``.
    """
    if not str(out_file).lower().endswith('.png'):
        raise ValueError(f'out_file must be a .png file, got {out_file}')
    predictor = ImagePredictor(
        config, checkpoint, task=task, device=device, deploy=deploy,
        palette=palette, cfg_options=cfg_options)
    panels, captions = [], []
    for path in image_paths:
        if len(panels) >= max_images:
            break
        img = read_image(path)
        if img is None:
            continue
        sample = predictor.predict(img)
        panels.append(
            draw_prediction(
                img[..., ::-1].copy(), sample, predictor.task,
                predictor.classes, predictor.palette, score_thr, topk,
                min_size=panel_size, with_input=with_input))
        captions.append(osp.basename(path))
    if not panels:
        raise ValueError(
            f'None of the {len(image_paths)} images could be read: '
            f'{list(image_paths)[:5]}')
    grid = make_grid(panels, ncols, captions)
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    if png_colours:
        Image.fromarray(grid).quantize(
            colors=int(png_colours),
            method=Image.Quantize.MEDIANCUT).save(out_file, optimize=True)
    elif not cv2.imwrite(out_file, grid[..., ::-1],
                         [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f'Could not write {out_file}')
    return out_file
