# Copyright (c) mmunireplk contributors. All rights reserved.
"""Convert a public UniRepLKNet ImageNet checkpoint to mmpretrain's layout.

    python tools/model_converters/unireplknet_to_mmpretrain.py \\
        unireplknet_t_in1k_224_acc83.21.pth unireplknet-t_in1k.pth \\
        [--config configs/unireplknet/unireplknet-t_32xb128_in1k.py] \\
        [--trust-checkpoint]

Keys map one to one: ``downsample_layers.*``/``stages.*`` -> ``backbone.*``,
``norm.*`` -> ``head.norm.*``, ``head.*`` -> ``head.head.*`` (see
:func:`mmunireplk.checkpoint.convert_imagenet_checkpoint`). The output
loads strictly into the matching config (``get_model(cfg, pretrained=OUT)``,
``load_from``, ``tools/test.py``); a 1000-class head gets the ImageNet class
names in ``meta.dataset_meta``. Prints what it mapped.
"""
import os.path as osp
import sys

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.checkpoint import (ConversionReport,
                                   convert_imagenet_checkpoint, convert_file)
from mmunireplk.apis.builder import strict_load_check
from mmunireplk.checkpoint.convert import converter_parser


def convert_with_imagenet_classes(checkpoint: dict,
                                  report: ConversionReport) -> dict:
    """The mapping, plus the ImageNet-1K class names for a 1000-class head
    (mmpretrain's list)."""
    converted = convert_imagenet_checkpoint(checkpoint, report)
    if converted['meta']['num_classes'] == 1000:
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
        converted['meta']['dataset_meta'] = dict(
            classes=list(IMAGENET_CATEGORIES))
        report.add('meta', 'dataset_meta.classes: the 1000 ImageNet classes')
    return converted


def main(argv=None) -> None:
    parser = converter_parser('Convert a public UniRepLKNet ImageNet '
                              'checkpoint into an mmpretrain checkpoint')
    args = parser.parse_args(argv)
    print(
        convert_file(
            args.src,
            args.dst,
            convert_with_imagenet_classes,
            check=strict_load_check(args.config),
            trust=args.trust_checkpoint or None,
            title='public ImageNet -> mmpretrain'))


if __name__ == '__main__':
    main()
