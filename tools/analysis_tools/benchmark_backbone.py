# Copyright (c) mmunireplk contributors. All rights reserved.
"""Side-by-side speed of UniRepLKNet and peer backbones, in one run.

Models (all return their four stage outputs, as used downstream):
``unireplknet`` (training form, eval mode), ``unireplknet-deploy``
(re-parameterised, with the fast CPU path), ``unireplknet-deploy-plain``
(re-parameterised, module-by-module forward), ``convnext`` (mmpretrain) and
``swin`` (mmdet, else mmseg) of the same size.

Measured per input case: inference images/s (``torch.inference_mode``),
forward+backward images/s of the training form and the peers (train mode),
peak memory of that step with and without activation checkpointing, and the
achieved GFLOP/s (2 x counted multiply-accumulates x images/s; x3 for
forward+backward) next to the measured fp32 matmul peak. Models are timed in
interleaved rounds and the best round is kept, so ratios are comparable even
when other processes share the CPU.

Example::

    python tools/analysis_tools/benchmark_backbone.py --arch tiny \\
        --out work_dirs/benchmark_backbone.json --plot work_dirs/bench.png
"""
import argparse
import json
import os
import platform
from typing import Dict, List, Optional

import torch

from mmunireplk.analysis.benchmark import (  # noqa: F401 (re-exported)
    PEERS, UNIREPLKNET_NAMES, build_benchmark_model, forward_macs,
    matmul_peak, parse_case, peak_memory_mib, sync, time_rounds)
from mmunireplk.models.layers import cpu_fast_path

build_model = build_benchmark_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark UniRepLKNet against ConvNeXt and Swin')
    parser.add_argument(
        '--arch', default='tiny', help='UniRepLKNet arch (peers match it)')
    parser.add_argument(
        '--models',
        nargs='+',
        default=list(UNIREPLKNET_NAMES) + ['convnext', 'swin'],
        help='models to run')
    parser.add_argument(
        '--infer',
        nargs='+',
        default=['224x224x1', '224x224x32', '800x1344x1'],
        help='inference cases HxWxBATCH')
    parser.add_argument(
        '--train',
        nargs='*',
        default=['224x224x8'],
        help='forward+backward cases HxWxBATCH (none: skip training)')
    parser.add_argument(
        '--rounds', type=int, default=3, help='timed rounds per case')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed runs per model/case')
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument(
        '--matmul-size',
        type=int,
        default=2048,
        help='size of the square fp32 matmul that measures the peak')
    parser.add_argument(
        '--peer', default='convnext', help='model the ratios refer to')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--plot', help='draw the results as a PNG bar chart')
    return parser.parse_args()


def benchmark(args: argparse.Namespace) -> dict:
    device = args.device
    models = {name: build_model(name, args.arch).to(device)
              for name in args.models}
    for model in models.values():
        model.eval()
    results = dict(
        arch=args.arch,
        device=device,
        threads=torch.get_num_threads(),
        cpu=platform.processor() or platform.machine(),
        torch=torch.__version__,
        matmul_peak_gflops=matmul_peak(device, args.matmul_size),
        inference=[],
        training=[])

    for case in args.infer:
        h, w, n = parse_case(case)
        x = torch.randn(n, 3, h, w, device=device)
        macs = {name: forward_macs(m, name, h, w) for name, m in
                models.items()}

        def infer(model, fast=True):

            def run():
                with torch.inference_mode(), cpu_fast_path(fast):
                    model(x)

            return run

        runners = {
            name: infer(m, name != 'unireplknet-deploy-plain')
            for name, m in models.items()
        }
        best = time_rounds(runners, args.rounds, args.warmup, device)
        rows = {}
        for name, seconds in best.items():
            rows[name] = dict(
                img_per_s=n / seconds,
                gmacs_per_img=macs[name] / 1e9,
                gflops_per_s=2 * macs[name] * n / seconds / 1e9)
        results['inference'].append(dict(case=case, models=rows))
        print_case('inference', case, rows, args.peer)

    train_names = [n for n in models if n in ('unireplknet', 'convnext',
                                              'swin')]
    for case in args.train or []:
        h, w, n = parse_case(case)
        x = torch.randn(n, 3, h, w, device=device)
        rows = {}
        runners = {}
        for name in train_names:
            model = models[name]
            model.train()
            macs = forward_macs(model, name, h, w)
            model.train()

            def step(model=model):
                outs = model(x)
                sum(o.float().mean() for o in outs).backward()
                model.zero_grad(set_to_none=True)

            runners[name] = step
            rows[name] = dict(gmacs_per_img=macs / 1e9)
        best = time_rounds(runners, args.rounds, args.warmup, device)
        for name in train_names:
            rows[name]['img_per_s'] = n / best[name]
            rows[name]['gflops_per_s'] = (3 * rows[name]['gmacs_per_img'] *
                                          2 * n / best[name])
            rows[name]['peak_mem_mib'] = peak_memory_mib(runners[name], device)
            cp_model = build_model(name, args.arch, with_cp=True).to(device)
            cp_model.load_state_dict(models[name].state_dict())
            cp_model.train()

            def cp_step(model=cp_model):
                outs = model(x.requires_grad_(False))
                sum(o.float().mean() for o in outs).backward()

            rows[name]['peak_mem_with_cp_mib'] = peak_memory_mib(
                cp_step, device)
            del cp_model
            models[name].eval()
        results['training'].append(dict(case=case, models=rows))
        print_case('forward+backward', case, rows, args.peer)
    return results


def print_case(kind: str, case: str, rows: Dict[str, dict],
               peer: str) -> None:
    peer_speed = rows.get(peer, {}).get('img_per_s')
    print(f'\n{kind} {case} (ratio = img/s / {peer} img/s)')
    header = f'{"model":<26}{"img/s":>9}{"ratio":>8}{"GMACs/img":>11}' \
             f'{"GFLOP/s":>9}'
    if kind != 'inference':
        header += f'{"peak MiB":>10}{"w/ cp MiB":>11}'
    print(header)
    for name, row in rows.items():
        ratio = row['img_per_s'] / peer_speed if peer_speed else float('nan')
        line = (f'{name:<26}{row["img_per_s"]:>9.2f}{ratio:>8.2f}'
                f'{row["gmacs_per_img"]:>11.2f}{row["gflops_per_s"]:>9.1f}')
        if kind != 'inference':
            line += ''.join(f'{_fmt(row.get(k)):>10} ' for k in
                            ('peak_mem_mib', 'peak_mem_with_cp_mib'))
        print(line)


def _fmt(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.0f}'


def plot(results: dict, path: str, peer: str) -> None:
    """Bar chart of images/s per case (one group per case)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = [('infer ' + c['case'], c['models'])
              for c in results['inference']]
    groups += [('train ' + c['case'], c['models'])
               for c in results['training']]
    names: List[str] = []
    for _, rows in groups:
        names += [n for n in rows if n not in names]
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4 * len(groups), 4), squeeze=False)
    for ax, (title, rows) in zip(axes[0], groups):
        values = [rows[n]['img_per_s'] if n in rows else 0 for n in names]
        bars = ax.bar(range(len(names)), values,
                      color=[f'C{i}' for i in range(len(names))])
        peer_speed = rows.get(peer, {}).get('img_per_s')
        if peer_speed:
            for bar, value in zip(bars, values):
                if value:
                    ax.annotate(f'{value / peer_speed:.2f}x',
                                (bar.get_x() + bar.get_width() / 2, value),
                                ha='center', va='bottom', fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
        ax.set_ylabel('images/s')
    fig.suptitle(f'UniRepLKNet-{results["arch"]} vs peers, '
                 f'{results["device"]}, {results["threads"]} threads '
                 f'(ratios vs {peer})')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for case in args.infer + (args.train or []):
        parse_case(case)
    results = benchmark(args)
    peaks = ', '.join(f'{k} {v:.0f}' for k, v in
                      results['matmul_peak_gflops'].items())
    print(f'\nfp32 matmul peak (GFLOP/s): {peaks}')
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'results written to {args.out}')
    if args.plot:
        plot(results, args.plot, args.peer)
        print(f'plot written to {args.plot}')


if __name__ == '__main__':
    main()
