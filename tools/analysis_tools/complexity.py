# Copyright (c) mmunireplk contributors. All rights reserved.
"""Parameter and FLOP counting of backbones, detectors and segmentors.

FLOPs are counted as multiply-accumulates (MACs), as the UniRepLKNet paper
and the OpenMMLab model zoos report them, with forward hooks on modules.
Two conventions are selectable:

* ``'macs'`` (default): multiply-accumulates of convolutions, transposed
  convolutions and linear layers only (fvcore's choice for these layers;
  biases, norms, activations, pooling and interpolation are not counted).
* ``'mmcv'``: the rules of the mmcv 1.x ``get_model_complexity_info``
  counter that mmdet 2.x / mmseg 0.x ``get_flops.py`` used: conv/linear MACs
  plus one FLOP per bias add, ``numel`` (``2 * numel`` when affine) for
  BatchNorm / GroupNorm / InstanceNorm / LayerNorm, ``numel`` for ReLU-type
  activations, pooling and ``nn.Upsample``; GELU, sigmoid and functional
  ops are not counted.

Detectors and segmentors run a "dummy" forward like mmdet 2.x / mmseg 0.x
``forward_dummy``: a segmentor runs backbone, neck and decode head (not the
auxiliary head); a two-stage detector runs backbone, neck, the RPN head's
convolutions and the RoI head on ``num_proposals`` random boxes (every
cascade stage's bbox head on all of them, every mask head on the first
``num_mask_rois``). Parameters are those of the whole model (auxiliary head
included, as both tools reported them) unless ``exclude_aux_head``.

The UniRepLKNet paper's det/seg tables match the deploy-form backbone with
the auxiliary head left out of the params (see ``docs/speed.md``).
"""
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmunireplk.deploy import KernelBlock, KernelConv2d, detach_cpu_kernels

FLOP_CONVENTIONS = ('macs', 'mmcv')

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_DECONV = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORM = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm,
         nn.modules.instancenorm._InstanceNorm, nn.LayerNorm)
_ACT = (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)
_POOL = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
         nn.modules.pooling._AdaptiveMaxPoolNd,
         nn.modules.pooling._AdaptiveAvgPoolNd)


def _first_tensor(x) -> Optional[Tensor]:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (tuple, list)) and x:
        return _first_tensor(x[0])
    return None


def module_flops(module: nn.Module, inputs: tuple, output,
                 convention: str = 'macs') -> int:
    """FLOPs of one call of ``module`` (0 for modules not counted).

    Args:
        module (nn.Module): The called module.
        inputs (tuple): Its positional inputs.
        output: Its output.
        convention (str): ``'macs'`` or ``'mmcv'`` (see module doc).

    Returns:
        int: The FLOPs (multiply-accumulates) of this call.
    """
    x, out = _first_tensor(inputs), _first_tensor(output)
    if x is None or out is None:
        return 0
    full = convention == 'mmcv'
    if isinstance(module, _CONV):
        kernel = int(torch.tensor(module.kernel_size).prod())
        flops = out.numel() * kernel * module.in_channels // module.groups
        if full and module.bias is not None:
            flops += out.numel()
        return flops
    if isinstance(module, _DECONV):
        kernel = int(torch.tensor(module.kernel_size).prod())
        flops = x.numel() * kernel * module.out_channels // module.groups
        if full and module.bias is not None:
            flops += out.numel()
        return flops
    if isinstance(module, nn.Linear):
        flops = out.numel() * module.in_features
        if full and module.bias is not None:
            flops += out.numel()
        return flops
    if not full:
        return 0
    if isinstance(module, _NORM):
        affine = getattr(module, 'affine', False) or getattr(
            module, 'elementwise_affine', False)
        return x.numel() * (2 if affine else 1)
    if isinstance(module, (_ACT, nn.Upsample)):
        return out.numel()
    if isinstance(module, _POOL):
        return x.numel()
    return 0


def count_flops(model: nn.Module,
                run: Callable[[], object],
                convention: str = 'macs') -> Tuple[int, Dict[str, int]]:
    """Count the FLOPs of the modules called while ``run()`` executes.

    Args:
        model (nn.Module): The model whose modules are hooked.
        run (Callable): Runs the forward pass to measure.
        convention (str): ``'macs'`` or ``'mmcv'``.

    Returns:
        tuple[int, dict]: Total FLOPs and FLOPs per top-level child module
        (e.g. ``backbone``, ``neck``, ``roi_head``).
    """
    counts = count_flops_all(model, run)
    if convention not in counts:
        raise ValueError(f'convention must be one of {FLOP_CONVENTIONS}, '
                         f'got {convention!r}')
    per_part = counts[convention]
    return sum(per_part.values()), per_part


def count_flops_all(model: nn.Module,
                    run: Callable[[], object]) -> Dict[str, Dict[str, int]]:
    """FLOPs per top-level child module under every convention, one pass.

    Returns:
        dict: ``{convention: {part: flops}}``.
    """
    counts: Dict[str, Dict[str, int]] = {
        c: defaultdict(int)
        for c in FLOP_CONVENTIONS
    }
    handles = []

    def make_hook(part: str):

        def hook(module, inputs, output):
            for convention, per_part in counts.items():
                per_part[part] += module_flops(module, inputs, output,
                                               convention)

        return hook

    for name, module in model.named_modules():
        part = name.split('.')[0] if name else '(model)'
        handles.append(module.register_forward_hook(make_hook(part)))
    try:
        with hooked_forward(model):
            run()
    finally:
        for handle in handles:
            handle.remove()
    return {c: dict(per_part) for c, per_part in counts.items()}


@contextmanager
def without_cpu_kernels(model: nn.Module) -> Iterator[None]:
    """Run ``model``'s deploy blocks and convs module by module: CPU
    kernels attached by :func:`mmunireplk.deploy.attach_cpu_kernels` (which
    compute a block without calling its submodules) are detached inside
    the context and attached again, with their state, after it."""
    attached = [(m, type(m), m.cpu_kernels) for m in model.modules()
                if isinstance(m, (KernelBlock, KernelConv2d))]
    if attached:
        detach_cpu_kernels(model)
    try:
        yield
    finally:
        for module, kernel_class, kernels in attached:
            module.__class__ = kernel_class
            module.cpu_kernels = kernels


@contextmanager
def hooked_forward(model: nn.Module) -> Iterator[None]:
    """Context for a forward of ``model`` whose module hooks must all fire:
    no grad, deploy blocks calling their submodules (no CPU kernels, see
    :func:`without_cpu_kernels`) and compiled modules running eagerly
    (hooks would break their graphs)."""
    force_eager = getattr(torch.compiler, 'set_stance', None)  # >= 2.6
    with ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        stack.enter_context(without_cpu_kernels(model))
        if force_eager is not None:
            stack.enter_context(force_eager('force_eager'))
        yield


def count_params(model: nn.Module, exclude: Tuple[str, ...] = ()) -> int:
    """Number of parameters of ``model`` (trainable or not).

    Args:
        model (nn.Module): The model.
        exclude (tuple[str]): Names of top-level children to leave out,
            e.g. ``('auxiliary_head', )``.
    """
    return sum(p.numel() for name, p in model.named_parameters()
               if name.split('.')[0] not in exclude)


def random_boxes(num: int, height: int, width: int,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """``num`` random valid (x1, y1, x2, y2) boxes inside an image."""
    xy = torch.rand(num, 2, 2, generator=generator)
    xy[..., 0] *= width
    xy[..., 1] *= height
    low, high = xy.min(dim=1).values, xy.max(dim=1).values
    return torch.cat([low, high + 1], dim=1)


def _two_stage_dummy_forward(model: nn.Module, img: Tensor,
                             num_proposals: int, num_mask_rois: int) -> None:
    """Backbone, neck, RPN convs and RoI heads on random proposals."""
    feats = model.extract_feat(img)
    if getattr(model, 'with_rpn', False):
        model.rpn_head(feats)
    boxes = random_boxes(num_proposals, img.shape[2], img.shape[3],
                         torch.Generator().manual_seed(0)).to(img)
    rois = torch.cat([boxes.new_zeros(num_proposals, 1), boxes], dim=1)
    roi_head = model.roi_head
    stages = range(getattr(roi_head, 'num_stages', 1))
    cascade = hasattr(roi_head, 'num_stages')
    if roi_head.with_bbox:
        for stage in stages:
            args = (stage, feats, rois) if cascade else (feats, rois)
            roi_head._bbox_forward(*args)
    if roi_head.with_mask:
        mask_rois = rois[:num_mask_rois]
        for stage in stages:
            args = (stage, feats, mask_rois) if cascade else (feats,
                                                              mask_rois)
            roi_head._mask_forward(*args)


def dummy_forward(model: nn.Module,
                  img: Tensor,
                  num_proposals: int = 1000,
                  num_mask_rois: int = 100) -> None:
    """Run the ``forward_dummy``-style pass of a model on ``img``.

    Supports segmentors (``decode_head``), two-stage detectors
    (``roi_head``), single-stage detectors (``bbox_head``), classifiers
    (``backbone`` + ``head`` / ``neck``) and bare backbones.
    """
    if hasattr(model, 'decode_head'):
        model.decode_head(model.extract_feat(img))
    elif hasattr(model, 'roi_head'):
        _two_stage_dummy_forward(model, img, num_proposals, num_mask_rois)
    elif hasattr(model, 'bbox_head'):
        model.bbox_head(model.extract_feat(img))
    elif hasattr(model, 'extract_feat'):
        feats = model.extract_feat(img)
        head = getattr(model, 'head', None)
        if head is not None and hasattr(head, 'pre_logits'):
            head(feats)
    else:
        model(img)


def get_complexity(model: nn.Module,
                   shape: Tuple[int, int],
                   convention: str = 'macs',
                   num_proposals: int = 1000,
                   num_mask_rois: int = 100,
                   exclude_aux_head: bool = False) -> dict:
    """Params and FLOPs of a model on one ``3 x H x W`` input.

    Args:
        model (nn.Module): A backbone, classifier, detector or segmentor.
        shape (tuple[int, int]): Input height and width.
        convention (str): FLOP convention, see :data:`FLOP_CONVENTIONS`.
        num_proposals (int): Random proposals of two-stage detectors.
        num_mask_rois (int): RoIs given to each mask head.
        exclude_aux_head (bool): Leave the ``auxiliary_head`` of a
            segmentor (used in training only) out of the params. The paper's
            segmentation table counts params this way.

    Returns:
        dict: ``params`` and ``flops`` (absolute numbers), ``flops_per_part``
        and ``flops_by_convention`` (total under every convention).
    """
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f'shape must be (H, W) with positive sizes, got '
                         f'{shape}')
    if convention not in FLOP_CONVENTIONS:
        raise ValueError(f'convention must be one of {FLOP_CONVENTIONS}, '
                         f'got {convention!r}')
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    img = torch.randn(1, 3, *shape)
    if param is not None:
        img = img.to(param)
    try:
        counts = count_flops_all(
            model, lambda: dummy_forward(model, img, num_proposals,
                                         num_mask_rois))
    finally:
        model.train(was_training)
    return dict(
        params=count_params(
            model, ('auxiliary_head', ) if exclude_aux_head else ()),
        flops=sum(counts[convention].values()),
        flops_per_part=counts[convention],
        flops_by_convention={c: sum(v.values())
                             for c, v in counts.items()})
