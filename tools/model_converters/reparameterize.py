# Copyright (c) mmunireplk contributors. All rights reserved.
"""Re-parameterise the UniRepLKNet backbone of a checkpoint (deploy form).

Works on detector/segmentor checkpoints (``backbone.*`` keys; neck and
heads are copied unchanged) and on bare backbone / ImageNet checkpoints.
The architecture is read off the weights. Load the result into a config
with ``model.backbone.deploy=True``:

    python tools/model_converters/reparameterize.py IN.pth OUT.pth
    python tools/test.py CONFIG OUT.pth --cfg-options model.backbone.deploy=True
"""
import argparse
import os.path as osp
import sys

try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmunireplk.utils import (ConversionReport, make_checkpoint,
                              read_legacy_checkpoint, reparameterize_state_dict,
                              save_checkpoint_atomic, split_runner_checkpoint,
                              upgrade_legacy_meta)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert the UniRepLKNet backbone of a checkpoint into '
        'its re-parameterised (deploy) form')
    parser.add_argument('src', help='input checkpoint (training form)')
    parser.add_argument('dst', help='output checkpoint (deploy form)')
    parser.add_argument(
        '--prefix',
        default=None,
        help="prefix of the backbone keys; default 'backbone.' when such "
        "keys exist, else '' (a bare backbone)")
    return parser.parse_args(argv)


def convert(src: str, dst: str, prefix=None) -> ConversionReport:
    """Re-parameterise ``src`` into ``dst``; return what changed."""
    report = ConversionReport(f'reparameterize {src} -> {dst}')
    checkpoint = read_legacy_checkpoint(src)
    state_dict, others = split_runner_checkpoint(checkpoint, report)
    if prefix is None:
        prefix = 'backbone.' if any(
            k.startswith('backbone.') for k in state_dict) else ''
    state_dict = reparameterize_state_dict(state_dict, prefix, report)
    meta = upgrade_legacy_meta(others.get('meta'), report)
    meta['reparameterized'] = True
    save_checkpoint_atomic(make_checkpoint(state_dict, meta), dst)
    return report


def main(argv=None) -> None:
    args = parse_args(argv)
    print(convert(args.src, args.dst, args.prefix))


if __name__ == '__main__':
    main()
