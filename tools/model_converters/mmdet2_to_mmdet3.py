# Copyright (c) mmunireplk contributors. All rights reserved.
"""Convert an mmdet 2.x UniRepLKNet detector checkpoint for mmdet 3.x.

The public ``casc_mask_rcnn_unireplknet_*_3x_coco_ap*.pth`` files are
mmdet 2.x runner checkpoints: ``state_dict`` (``backbone.``, ``neck.``,
``rpn_head.``, ``roi_head.`` keys), ``optimizer``, ``meta`` and, for the EMA
models, ``ema_*`` buffers of mmdet's ExpMomentumEMAHook. This tool keeps
the model weights, drops the optimizer and the EMA buffers, applies the key
upgrades of :data:`MMDET2_TO_3_RULES`, moves ``meta.CLASSES`` to
``meta.dataset_meta.classes`` and, with ``--config``, checks that the result
loads strictly into that config's model.

EMA: mmcv 1.x EMA hooks swap the averaged weights into the model before an
end-of-epoch checkpoint is written, so the main weights of such a file
already are the EMA weights (the ``ema_*`` buffers then hold the raw ones).
``--ema-buffers`` uses the ``ema_*`` buffers instead (for files saved
mid-epoch, where they hold the average).

    python tools/model_converters/mmdet2_to_mmdet3.py IN.pth OUT.pth \
        [--config CONFIG] [--ema-buffers]
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Tuple

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.utils import (ConversionReport, make_checkpoint,
                              read_legacy_checkpoint, rename_keys,
                              save_checkpoint_atomic, split_runner_checkpoint,
                              take_ema_weights, upgrade_legacy_meta)

# (regex, replacement) key upgrades from mmdet 2.28 to mmdet 3.x for
# Cascade Mask R-CNN + FPN + UniRepLKNet. mmdet 3.x kept the parameter names
# of every module of this model (FPN lateral/fpn convs, RPNHead rpn_conv/
# rpn_cls/rpn_reg, ConvFCBBoxHead shared_convs/shared_fcs/fc_cls/fc_reg,
# FCNMaskHead convs/upsample/conv_logits); tests/test_det checks this
# against the model built from our configs. Only a DDP ``module.`` prefix,
# left by some training scripts, is removed.
MMDET2_TO_3_RULES: List[Tuple[str, str]] = [
    (r'^module\.', ''),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an mmdet 2.x UniRepLKNet detector checkpoint '
        'into an mmdet 3.x one')
    parser.add_argument('src', help='mmdet 2.x checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--ema-buffers',
        action='store_true',
        help='use the ema_* buffers as the weights (see the module doc)')
    parser.add_argument(
        '--config',
        help='verify that the result loads strictly into this config')
    return parser.parse_args(argv)


def convert(src: str,
            dst: str,
            ema_buffers: bool = False,
            config: Optional[str] = None) -> ConversionReport:
    """Convert ``src`` into ``dst``; return what changed.

    Raises:
        RuntimeError: If ``config`` is given and the result does not load
            strictly into its model.
    """
    report = ConversionReport(f'mmdet 2.x -> 3.x: {src} -> {dst}')
    checkpoint = read_legacy_checkpoint(src)
    state_dict, others = split_runner_checkpoint(checkpoint, report)
    state_dict = rename_keys(state_dict, MMDET2_TO_3_RULES, report)
    state_dict = take_ema_weights(state_dict, others, ema_buffers, report)
    meta = upgrade_legacy_meta(others.get('meta'), report)
    if config is not None:
        check_strict_load(config, state_dict)
        report.add('verified', f'loads strictly into {config}')
    save_checkpoint_atomic(make_checkpoint(state_dict, meta), dst)
    return report


def check_strict_load(config: str, state_dict: dict) -> None:
    """Build the config's model and load ``state_dict`` with strict=True."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from mmunireplk.utils.runtime import sync_bn_to_bn

    register_all_modules()
    cfg = Config.fromfile(config)
    sync_bn_to_bn(cfg.model)  # the check runs without a process group
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise RuntimeError(f'The converted weights do not load strictly '
                           f'into {config}:\n{error}') from None


def main(argv=None) -> None:
    args = parse_args(argv)
    print(convert(args.src, args.dst, args.ema_buffers, args.config))


if __name__ == '__main__':
    main()
