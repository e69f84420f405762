# Copyright (c) mmunireplk contributors. All rights reserved.
"""Where the inference time of UniRepLKNet and its peers goes, per op class.

Runs ``torch.profiler`` over a few forwards (``--train``: forward+backward
steps in train mode) of each model and prints the
self CPU time per op class (matmul, conv, element-wise, reduction, norm,
copy / layout, compiled kernels, other) with the achieved GFLOP/s of the
matmul and convolution classes; ``--out`` writes JSON. Profiler overhead
makes the totals a few percent higher than the benchmark's.

Example::

    python tools/analysis_tools/profile_backbone.py --arch tiny --threads 1 \\
        --case 224x224x1 --out work_dirs/profile_tiny.json
"""
import argparse
import json
import os

import torch

# a module beside this script (its folder is on sys.path)
from benchmark import (MODEL_NAMES, build_benchmark_model, machine_info,
                       op_class_profile, parse_case)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument(
        '--models',
        nargs='+',
        choices=MODEL_NAMES,
        help='default: unireplknet-deploy convnext; with --train: '
        'unireplknet convnext swin')
    parser.add_argument('--case', default='224x224x1', help='HxWxBATCH')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument(
        '--train',
        action='store_true',
        help='profile forward+backward of the training form (train mode)')
    parser.add_argument('--out', help='write the profiles as JSON here')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w, n = parse_case(args.case)
    x = torch.randn(n, 3, h, w)
    result = dict(
        machine=machine_info(),
        threads=torch.get_num_threads(),
        case=args.case,
        mode='forward+backward' if args.train else 'inference',
        profiles={})
    names = args.models or (['unireplknet', 'convnext', 'swin'] if args.train
                            else ['unireplknet-deploy', 'convnext'])
    for name in names:
        model = build_benchmark_model(name, args.arch)
        model.eval()
        rows = op_class_profile(model, x, args.runs, train=args.train)
        result['profiles'][name] = rows
        total = sum(r['ms'] for r in rows.values())
        print(f'\n{name}, {result["mode"]}, {args.case}, '
              f'{result["threads"]} thread(s): {total:.1f} ms per call under '
              'the profiler')
        print(f'{"op class":<18}{"ms":>8}{"share":>8}{"GMACs":>8}'
              f'{"GFLOP/s":>9}')
        for cls, row in rows.items():
            extra = (f'{row["gmacs"]:>8.2f}{row["gflops_per_s"]:>9.0f}'
                     if 'gmacs' in row else '')
            print(f'{cls:<18}{row["ms"]:>8.1f}{100 * row["share"]:>7.0f}%'
                  f'{extra}')
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()
