# Copyright (c) mmunireplk contributors. All rights reserved.
"""Convert a public UniRepLKNet ImageNet checkpoint to mmpretrain's layout.

    python tools/model_converters/unireplknet_to_mmpretrain.py \\
        unireplknet_t_in1k_224_acc83.21.pth unireplknet-t_in1k.pth \\
        [--config configs/unireplknet/unireplknet-t_32xb128_in1k.py]

Keys map one to one: ``downsample_layers.*``/``stages.*`` -> ``backbone.*``,
``norm.*`` -> ``head.norm.*``, ``head.*`` -> ``head.head.*``. The public
file is read weights-only. The output, ``dict(meta=..., state_dict=...)``,
loads strictly into the matching config (``get_model(cfg, pretrained=OUT)``,
``load_from``, ``tools/test.py``); a 1000-class head gets the ImageNet class
names in ``meta.dataset_meta``. ``--config`` also builds that config's
model and checks that the result loads into it strictly.
"""
import argparse
import os.path as osp
import sys

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.checkpoint import (ConversionReport, load_checkpoint_file,
                                   save_checkpoint_atomic)
from mmunireplk.checkpoint.imagenet import convert_imagenet_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a public UniRepLKNet ImageNet checkpoint to an '
        'mmpretrain checkpoint')
    parser.add_argument('src', help='public checkpoint (local path or URL)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument(
        '--config',
        help='classification config whose model must load the result '
        'strictly (checked after conversion)')
    return parser.parse_args(argv)


def imagenet_classes(num_classes: int):
    """ImageNet-1K class names for a 1000-class head, else None."""
    if num_classes != 1000:
        return None
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    return IMAGENET_CATEGORIES


def check_against_config(config: str, state_dict: dict) -> str:
    """Build the config's model and load ``state_dict`` strictly into it."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg.backbone['init_cfg'] = None
    if model_cfg.get('head') is not None:
        model_cfg.head['init_cfg'] = None
    model = MODELS.build(model_cfg)
    model.load_state_dict(state_dict, strict=True)
    return (f'{len(state_dict)} tensors load strictly into '
            f'{type(model).__name__} of {config}')


def main(argv=None) -> None:
    args = parse_args(argv)
    if '://' not in args.src and not osp.isfile(args.src):
        raise FileNotFoundError(f'Checkpoint not found: {args.src}')
    if osp.abspath(args.src) == osp.abspath(args.dst):
        raise ValueError('dst must differ from src')
    checkpoint = load_checkpoint_file(args.src, map_location='cpu')
    report = ConversionReport(f'{args.src} -> {args.dst}')
    converted = convert_imagenet_checkpoint(checkpoint, report=report)
    classes = imagenet_classes(converted['meta']['num_classes'])
    if classes is not None:
        converted['meta']['dataset_meta'] = dict(classes=list(classes))
        report.add('meta', 'dataset_meta.classes: the 1000 ImageNet classes')
    if args.config:
        report.add('checked', check_against_config(args.config,
                                                   converted['state_dict']))
    save_checkpoint_atomic(converted, args.dst)
    print(report)
    print(f'saved {args.dst}')


if __name__ == '__main__':
    main()
