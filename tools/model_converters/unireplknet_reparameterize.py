# Copyright (c) mmunireplk contributors. All rights reserved.
"""Re-parameterise the UniRepLKNet backbone of a checkpoint (deploy form).

    python tools/model_converters/unireplknet_reparameterize.py \\
        IN.pth OUT.pth [--prefix backbone.] [--config CONFIG] \\
        [--trust-checkpoint]
    python tools/test.py CONFIG OUT.pth \\
        --cfg-options model.backbone.deploy=True

Works on detector / segmentor / classifier checkpoints (neck and heads are
copied unchanged) and on bare backbone / ImageNet files; the architecture
is read off the weights (see
:func:`mmunireplk.checkpoint.reparameterize_checkpoint`). With ``--config``
the result is checked against the config's model in the deploy form.
"""
import os.path as osp
import sys

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.checkpoint import convert_file, reparameterize_checkpoint
from mmunireplk.apis.builder import strict_load_check
from mmunireplk.checkpoint.convert import converter_parser


def main(argv=None) -> None:
    parser = converter_parser('Convert the UniRepLKNet backbone of a '
                              'checkpoint into its deploy form')
    parser.add_argument(
        '--prefix',
        default=None,
        help="prefix of the backbone keys; default 'backbone.' when such "
        "keys exist, else '' (a bare backbone)")
    args = parser.parse_args(argv)
    print(
        convert_file(
            args.src,
            args.dst,
            reparameterize_checkpoint,
            check=strict_load_check(args.config),
            trust=args.trust_checkpoint or None,
            title='reparameterize',
            prefix=args.prefix))


if __name__ == '__main__':
    main()
