# Copyright (c) mmunireplk contributors. All rights reserved.
"""Side-by-side speed of UniRepLKNet and peer backbones, in one run.

Models (all return their four stage outputs, as used downstream):
``unireplknet`` (training form, eval mode), ``unireplknet-deploy``
(re-parameterised, with the CPU kernels of :mod:`mmunireplk.deploy`),
``unireplknet-deploy-plain``
(re-parameterised, module-by-module forward), ``convnext`` (mmpretrain) and
``swin`` (mmdet, else mmseg) of the same size; ``--compile`` adds
``unireplknet-deploy-compiled`` and ``convnext-compiled`` (``torch.compile``,
inductor with freezing; compile time reported apart).

Measured per thread count (``--threads 1 2``) and input case: inference
images/s (``torch.no_grad``), forward+backward images/s of the training form
and the peers (train mode), peak memory of that step with and without
activation checkpointing, and the achieved GFLOP/s (2 x counted
multiply-accumulates x images/s; x3 for forward+backward) next to the
measured fp32 matmul peaks (MKL's ``torch.mm`` and oneDNN). Models are timed
in interleaved rounds and the best round is kept, so ratios are comparable
even when other processes share the CPU. The JSON records the CPU model,
ISA flags, library versions and the choices of the CPU kernels.

Example::

    python tools/analysis_tools/benchmark_backbone.py --arch tiny \\
        --threads 1 2 --compile \\
        --out work_dirs/benchmark_backbone.json --plot work_dirs/bench.png
"""
import argparse
import json
import os
import time
from typing import Dict, List, Optional

import torch

from mmunireplk.deploy import cpu_kernels_of

# a module beside this script (its folder is on sys.path)
from benchmark import (  # noqa: F401 (re-exported)
    COMPILED_NAMES, MODEL_NAMES, PEERS, UNIREPLKNET_NAMES,
    build_benchmark_model, forward_macs, machine_info, matmul_peak,
    parse_case, peak_memory_mib, sync, time_rounds)

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
        choices=MODEL_NAMES,
        help='models to run')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='add the compiled deploy UniRepLKNet and compiled ConvNeXt')
    parser.add_argument(
        '--infer',
        nargs='+',
        default=['224x224x1', '224x224x8', '800x1344x1'],
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
        '--threads',
        type=int,
        nargs='+',
        default=None,
        help='torch CPU thread counts, run one after the other')
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


def model_names(args: argparse.Namespace) -> List[str]:
    names = list(args.models)
    if args.compile:
        names += [n for n in COMPILED_NAMES if n not in names]
    return names


def benchmark(args: argparse.Namespace) -> dict:
    """All cases at the current thread count."""
    device = args.device
    names = model_names(args)
    models = {name: build_model(name, args.arch).to(device) for name in names}
    for model in models.values():
        model.eval()
    peak = matmul_peak(device, args.matmul_size)
    results = dict(
        threads=torch.get_num_threads(),
        matmul_peak_gflops=peak,
        inference=[],
        training=[],
        compile_seconds={})
    peak_gflops = max(peak.values())

    for case in args.infer:
        h, w, n = parse_case(case)
        x = torch.randn(n, 3, h, w, device=device)
        macs = {}
        for name in names:
            base = name[:-len('-compiled')] if name in COMPILED_NAMES \
                else name
            if base not in macs:
                model = models.get(base) or build_model(base, args.arch)
                macs[base] = forward_macs(model.to(device), base, h, w)
            macs[name] = macs[base]

        def infer(model):

            def run():
                with torch.no_grad():
                    model(x)

            return run

        runners = {name: infer(m) for name, m in models.items()}
        for name in names:
            if name in COMPILED_NAMES:  # compiles for this input shape
                start = time.perf_counter()
                runners[name]()
                results['compile_seconds'][f'{name} {case}'] = \
                    time.perf_counter() - start
        best = time_rounds(runners, args.rounds, args.warmup, device)
        rows = {}
        for name, seconds in best.items():
            gflops = 2 * macs[name] * n / seconds / 1e9
            rows[name] = dict(
                img_per_s=n / seconds,
                gmacs_per_img=macs[name] / 1e9,
                gflops_per_s=gflops,
                percent_of_peak=100 * gflops / peak_gflops)
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
            rows[name]['percent_of_peak'] = (
                100 * rows[name]['gflops_per_s'] / peak_gflops)
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
    kernels = cpu_kernels_of(models['unireplknet-deploy']) \
        if 'unireplknet-deploy' in models else None
    results['kernel_choices'] = [
        c for c in (kernels.choices() if kernels else [])
        if c['threads'] == torch.get_num_threads()
    ]
    return results


def print_case(kind: str, case: str, rows: Dict[str, dict],
               peer: str) -> None:
    peer_speed = rows.get(peer, {}).get('img_per_s')
    print(f'\n{kind} {case} (ratio = img/s / {peer} img/s)')
    header = f'{"model":<28}{"img/s":>9}{"ratio":>8}{"GMACs/img":>11}' \
             f'{"GFLOP/s":>9}{"% peak":>8}'
    if kind != 'inference':
        header += f'{"peak MiB":>10}{"w/ cp MiB":>11}'
    print(header)
    for name, row in rows.items():
        ratio = row['img_per_s'] / peer_speed if peer_speed else float('nan')
        line = (f'{name:<28}{row["img_per_s"]:>9.2f}{ratio:>8.2f}'
                f'{row["gmacs_per_img"]:>11.2f}{row["gflops_per_s"]:>9.1f}'
                f'{row["percent_of_peak"]:>8.0f}')
        if kind != 'inference':
            line += ''.join(f'{_fmt(row.get(k)):>10} ' for k in
                            ('peak_mem_mib', 'peak_mem_with_cp_mib'))
        print(line)


def _fmt(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.0f}'


def plot(results: dict, path: str, peer: str) -> None:
    """Bar chart of images/s: a row per thread count, a panel per case."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    runs = results['runs']
    groups_per_run = [[('infer ' + c['case'], c['models'])
                       for c in run['inference']] +
                      [('train ' + c['case'], c['models'])
                       for c in run['training']] for run in runs]
    width = max(len(groups) for groups in groups_per_run)
    fig, axes = plt.subplots(
        len(runs), width, figsize=(4 * width, 4 * len(runs)), squeeze=False)
    for row, (run, groups) in enumerate(zip(runs, groups_per_run)):
        for ax, (title, rows) in zip(axes[row], groups):
            names = list(rows)
            values = [rows[n]['img_per_s'] for n in names]
            bars = ax.bar(range(len(names)), values,
                          color=[f'C{i}' for i in range(len(names))])
            peer_speed = rows.get(peer, {}).get('img_per_s')
            for bar, value in zip(bars, values):
                if peer_speed:
                    ax.annotate(f'{value / peer_speed:.2f}x',
                                (bar.get_x() + bar.get_width() / 2, value),
                                ha='center', va='bottom', fontsize=8)
            ax.set_title(f'{title}, {run["threads"]} thread(s)', fontsize=9)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
            ax.set_ylabel('images/s')
        for ax in axes[row][len(groups):]:
            ax.axis('off')
    fig.suptitle(f'UniRepLKNet-{results["arch"]} vs peers on '
                 f'{results["machine"]["cpu"]} ({results["device"]}; '
                 f'ratios vs {peer})')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    args = parse_args()
    for case in args.infer + (args.train or []):
        parse_case(case)
    machine = machine_info()
    print(f'{machine["cpu"]}; ISA: {" ".join(machine["isa_flags"])}; '
          f'torch {machine["torch"]} (oneDNN {machine["onednn"]}, MKL '
          f'{machine["mkl"]})')
    results = dict(
        arch=args.arch, device=args.device, machine=machine, runs=[])
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        print(f'\n=== {threads} thread(s) ===')
        run = benchmark(args)
        peaks = ', '.join(f'{k} {v:.0f}' for k, v in
                          run['matmul_peak_gflops'].items())
        print(f'\nfp32 matmul peak (GFLOP/s): {peaks}')
        for name, seconds in run['compile_seconds'].items():
            print(f'compile time {name}: {seconds:.0f} s')
        results['runs'].append(run)
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
