# Copyright (c) mmunireplk contributors. All rights reserved.
"""Convert a public UniRepLKNet UPerNet checkpoint (mmseg 0.x runner format)
into an mmseg 1.x checkpoint that loads strictly into our configs.

    python tools/model_converters/unireplknet_mmseg0x_to_1x.py \\
        upernet_unireplknet_t_512_160k_ade20k_miou48.6.pth \\
        checkpoints/upernet_unireplknet-t_ade20k.pth \\
        --config configs/unireplknet/upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py

With ``--config`` the result is loaded into the config's model with
``strict=True`` before it is saved (no download: the backbone's ImageNet
``init_cfg`` is not used). For the deploy (re-parameterised) form, run the
generic re-parameterisation converter on the output.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.seg import convert_mmseg0x_checkpoint  # noqa: E402
from mmunireplk.utils import (ConversionReport,  # noqa: E402
                              read_legacy_checkpoint, save_checkpoint_atomic)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='mmseg 0.x checkpoint (.pth)')
    parser.add_argument('dst', help='output path')
    parser.add_argument(
        '--config', help='verify that the result loads strictly into the '
        "model of this config before saving")
    return parser.parse_args(argv)


def check_strict_load(checkpoint: dict, config: str) -> None:
    """Load the converted weights into the config's model, strictly."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.load_state_dict(checkpoint['state_dict'], strict=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if osp.abspath(args.src) == osp.abspath(args.dst):
        raise SystemExit('dst must differ from src')
    report = ConversionReport(f'{args.src} -> {args.dst}')
    checkpoint = convert_mmseg0x_checkpoint(
        read_legacy_checkpoint(args.src), report)
    if args.config:
        check_strict_load(checkpoint, args.config)
        report.add('verified', f'loads strictly into {args.config}')
    save_checkpoint_atomic(checkpoint, args.dst)
    print(report.format())
    print(f'saved {len(checkpoint["state_dict"])} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
