# Copyright (c) mmunireplk contributors. All rights reserved.
"""GPU check: backbone speed/memory in fp32, TF32, AMP fp16/bf16,
channels-last and with_cp (deploy vs training form vs ConvNeXt-T vs
Swin-T), AMP training iterations of the det/seg demo configs, fp16/bf16
deploy outputs vs fp32 and mmcv's RoIAlign on CUDA; one table + JSON.

    python tools/analysis_tools/gpu_check.py [--out-dir work_dirs/gpu_check]
    python tools/analysis_tools/gpu_check.py --dry-run   # CPU, tiny shapes

(``tools/analysis_tools/gpu_check.sh`` wraps it with an 8-minute limit.)
The code lives in :mod:`mmunireplk.analysis.gpu_check`. Exit status 1 when
a check failed or raised.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, ROOT)
from mmunireplk.analysis.gpu_check import (SECTIONS, format_table,  # noqa
                                           run_gpu_check)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--out-dir', default='work_dirs/gpu_check',
        help='data, work dirs and gpu_check.json (default %(default)s)')
    parser.add_argument('--json', help='JSON path (<out-dir>/gpu_check.json)')
    parser.add_argument(
        '--dry-run', action='store_true',
        help='run the same code on the CPU with tiny shapes, 1 iteration')
    parser.add_argument('--device', help='default cuda (cpu with --dry-run)')
    parser.add_argument(
        '--sections', nargs='+', choices=SECTIONS, help='default: all')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run_gpu_check(args.out_dir, dry_run=args.dry_run,
                           device=args.device, sections=args.sections,
                           json_path=args.json)
    print('\n' + format_table(result))
    print(f'\nresults written to {result["json"]}')
    return 0 if result['summary']['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
