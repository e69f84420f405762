# Copyright (c) mmunireplk contributors. All rights reserved.
"""Export a UniRepLKNet model to ONNX with dynamic batch, height and width.

Targets:

* ``backbone`` (default for detection configs): the re-parameterised
  (deploy-form) backbone; outputs ``feat0..feat3``.
* ``features``: backbone + neck (e.g. the FPN of a detector).
* ``segmentor`` (default for segmentation configs): a whole UPerNet
  segmentor in whole-image mode, input the normalised image (what the
  model's data preprocessor produces), output ``seg_logits`` at the input
  resolution.

The model is re-parameterised before export. With ``--verify`` (default on)
onnxruntime runs the file at the export size and at a second size and the
outputs are compared with PyTorch (max abs error / max abs value).

Cascade Mask R-CNN as a whole cannot be exported by this tool: proposal
generation and NMS have data-dependent output sizes and mmcv 2.x ops
(``nms``, ``RoIAlign``) carry no ONNX symbolics; use mmdeploy for that. The
``backbone`` and ``features`` targets export the detector's dense part.

Example::

    python tools/deployment/export_onnx.py \\
        configs/unireplknet/upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py \\
        work_dirs/upernet_t/iter_160000.pth --out work_dirs/upernet_t.onnx
"""
import argparse
import copy
import os
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from torch import Tensor

from mmunireplk.apis.builder import build_model_from_config
from mmunireplk.utils import detect_task

TARGETS = ('backbone', 'features', 'segmentor')


class ShapeAgnosticAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two matrix products.

    ONNX has no adaptive average pooling whose input size is only known at
    run time (e.g. UPerNet's pyramid pooling with dynamic H/W). Bin ``i`` of
    ``S`` averages rows ``floor(i*H/S) .. ceil((i+1)*H/S) - 1``, which is a
    product with an (S, H) averaging matrix; the result equals
    ``nn.AdaptiveAvgPool2d`` to fp32 rounding.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        if any(s is None for s in output_size):
            raise ValueError('output sizes of None are not supported')
        self.output_size = tuple(int(s) for s in output_size)

    @staticmethod
    def pool_matrix(size: Tensor, bins: int, like: Tensor) -> Tensor:
        """The (bins, size) matrix of adaptive average pooling."""
        index = torch.arange(bins, device=like.device)
        start = torch.div(index * size, bins, rounding_mode='floor')
        end = torch.div((index + 1) * size + bins - 1, bins,
                        rounding_mode='floor')
        pos = torch.arange(size, device=like.device)[None]
        mask = (pos >= start[:, None]) & (pos < end[:, None])
        return mask.to(like.dtype) / (end - start)[:, None].to(like.dtype)

    def forward(self, x: Tensor) -> Tensor:
        shape = torch._shape_as_tensor(x)
        rows = self.pool_matrix(shape[-2], self.output_size[0], x)
        cols = self.pool_matrix(shape[-1], self.output_size[1], x)
        return rows @ x @ cols.t()


def replace_adaptive_pools(model: nn.Module) -> int:
    """Swap every ``nn.AdaptiveAvgPool2d`` with output size > 1 in place.

    Returns:
        int: How many modules were replaced.
    """
    replaced = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d):
                size = child.output_size
                if size in (1, (1, 1)):
                    continue  # GlobalAveragePool exports as it is
                setattr(module, child_name,
                        ShapeAgnosticAdaptiveAvgPool2d(size))
                replaced += 1
    return replaced


class BackboneExport(nn.Module):

    def __init__(self, model: nn.Module, with_neck: bool) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.neck = model.neck if with_neck else None

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        feats = self.backbone(img)
        if self.neck is not None:
            feats = self.neck(feats)
        return tuple(feats)


class SegmentorExport(nn.Module):
    """Whole-image inference of an encoder-decoder: logits at input size."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, img: Tensor) -> Tensor:
        logits = self.model.decode_head(self.model.extract_feat(img))
        return F.interpolate(
            logits,
            size=img.shape[2:],
            mode='bilinear',
            align_corners=self.model.decode_head.align_corners)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a UniRepLKNet model to ONNX (dynamic H/W)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (optional)')
    parser.add_argument(
        '--target',
        choices=TARGETS,
        help='what to export (default: segmentor for segmentation configs, '
        'backbone otherwise)')
    parser.add_argument('--out', help='ONNX file (default: next to config)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=('H', 'W'),
        help='example input size used for tracing')
    parser.add_argument(
        '--verify-shape',
        type=int,
        nargs=2,
        default=[384, 640],
        metavar=('H', 'W'),
        help='second input size checked with onnxruntime')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnxruntime comparison')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest relative error accepted by the verification')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config')
    return parser.parse_args()


def build_export_module(cfg: Config, checkpoint, target: str) -> nn.Module:
    """The deploy-form model wrapped for ``target``, in eval mode."""
    model = build_model_from_config(cfg, checkpoint, form='deploy')
    if target == 'segmentor':
        if not hasattr(model, 'decode_head'):
            raise ValueError('--target segmentor needs a segmentation '
                             '(encoder-decoder) config')
        module = SegmentorExport(model)
    elif target == 'features':
        if getattr(model, 'neck', None) is None:
            raise ValueError('--target features needs a model with a neck')
        module = BackboneExport(model, with_neck=True)
    else:
        module = BackboneExport(model, with_neck=False)
    module.eval()
    return module


def output_names(module: nn.Module, example: Tensor) -> List[str]:
    with torch.no_grad():
        outs = module(example)
    if isinstance(outs, Tensor):
        return ['seg_logits']
    return [f'feat{i}' for i in range(len(outs))]


def export(module: nn.Module, example: Tensor, path: str,
           opset: int) -> List[str]:
    """Export with dynamic batch / height / width; returns output names.

    ``module`` itself is left unchanged (adaptive pools are replaced in a
    copy).
    """
    names = output_names(module, example)
    module = copy.deepcopy(module)
    replace_adaptive_pools(module)
    dynamic = {'img': {0: 'batch', 2: 'height', 3: 'width'}}
    for name in names:
        dynamic[name] = {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module, (example, ),
            path,
            input_names=['img'],
            output_names=names,
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False)
    return names


def relative_errors(module: nn.Module, path: str,
                    shapes: Sequence[Tuple[int, int]]) -> List[float]:
    """Max relative error of onnxruntime vs ``module`` for each input size.

    The error of an output is ``max |onnx - torch| / max |torch|``.
    """
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    errors = []
    for h, w in shapes:
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = module(x)
        if isinstance(expected, Tensor):
            expected = (expected, )
        got = session.run(None, {'img': x.numpy()})
        worst = 0.
        for ref, out in zip(expected, got):
            if tuple(ref.shape) != out.shape:
                raise RuntimeError(f'ONNX output shape {out.shape} differs '
                                   f'from PyTorch {tuple(ref.shape)}')
            diff = (torch.from_numpy(out) - ref).abs().max()
            scale = ref.abs().max().clamp_min(1e-12)
            worst = max(worst, (diff / scale).item())
        errors.append(worst)
    return errors


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    target = args.target or ('segmentor'
                             if detect_task(cfg) == 'seg' else 'backbone')
    out = args.out or os.path.splitext(args.config)[0] + f'_{target}.onnx'
    module = build_export_module(cfg, args.checkpoint, target)
    example = torch.randn(1, 3, *args.shape)
    names = export(module, example, out, args.opset)
    print(f'Exported {target} ({", ".join(names)}) to {out}')
    if not args.no_verify:
        shapes = [tuple(args.shape), tuple(args.verify_shape)]
        errors = relative_errors(module, out, shapes)
        for (h, w), err in zip(shapes, errors):
            print(f'onnxruntime vs PyTorch at {h}x{w}: max relative error '
                  f'{err:.2e}')
        if max(errors) > args.tolerance:
            raise SystemExit(f'verification failed: relative error '
                             f'{max(errors):.2e} > {args.tolerance:.0e}')
        print('verification passed')


if __name__ == '__main__':
    main()
