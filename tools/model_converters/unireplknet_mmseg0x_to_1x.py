# Copyright (c) mmunireplk contributors. All rights reserved.
"""Convert a public UniRepLKNet UPerNet checkpoint (mmseg 0.x) for mmseg 1.x.

    python tools/model_converters/unireplknet_mmseg0x_to_1x.py \\
        upernet_unireplknet_t_512_160k_ade20k_miou48.6.pth OUT.pth \\
        [--config CONFIG] [--trust-checkpoint]

Drops the optimizer and classifier leftovers, upgrades ``meta`` (see
:func:`mmunireplk.checkpoint.convert_mmseg0x_checkpoint`) and prints what
it changed. For the deploy form, run ``unireplknet_reparameterize.py`` on
the output.
"""
import os.path as osp
import sys

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.checkpoint import convert_file, convert_mmseg0x_checkpoint
from mmunireplk.apis.builder import strict_load_check
from mmunireplk.checkpoint.convert import converter_parser


def main(argv=None) -> None:
    parser = converter_parser('Convert an mmseg 0.x UniRepLKNet segmentor '
                              'checkpoint into an mmseg 1.x one')
    args = parser.parse_args(argv)
    print(
        convert_file(
            args.src,
            args.dst,
            convert_mmseg0x_checkpoint,
            check=strict_load_check(args.config),
            trust=args.trust_checkpoint or None,
            title='mmseg 0.x -> 1.x'))


if __name__ == '__main__':
    main()
