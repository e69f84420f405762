# Copyright (c) mmunireplk contributors. All rights reserved.
"""Convert an mmdet 2.x UniRepLKNet detector checkpoint for mmdet 3.x.

    python tools/model_converters/unireplknet_mmdet2_to_mmdet3.py \\
        casc_mask_rcnn_unireplknet_t_in1k_3x_coco_ap51.7.pth OUT.pth \\
        [--config CONFIG] [--ema-buffers] [--trust-checkpoint]

Keeps the model weights, drops the optimizer and EMA buffers, moves
``meta.CLASSES`` to ``meta.dataset_meta.classes`` (see
:func:`mmunireplk.checkpoint.convert_mmdet2_checkpoint`), and prints what
it changed. ``--ema-buffers`` takes the ``ema_*`` buffers as the weights
(files saved mid-epoch).
"""
import os.path as osp
import sys

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.checkpoint import convert_file, convert_mmdet2_checkpoint
from mmunireplk.apis.builder import strict_load_check
from mmunireplk.checkpoint.convert import converter_parser


def main(argv=None) -> None:
    parser = converter_parser('Convert an mmdet 2.x UniRepLKNet detector '
                              'checkpoint into an mmdet 3.x one')
    parser.add_argument(
        '--ema-buffers',
        action='store_true',
        help='use the ema_* buffers as the weights (see the module doc)')
    args = parser.parse_args(argv)
    print(
        convert_file(
            args.src,
            args.dst,
            convert_mmdet2_checkpoint,
            check=strict_load_check(args.config),
            trust=args.trust_checkpoint or None,
            title='mmdet 2.x -> 3.x',
            ema_buffers=args.ema_buffers))


if __name__ == '__main__':
    main()
