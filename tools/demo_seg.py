# Copyright (c) mmunireplk contributors. All rights reserved.
"""Segmentation demo on CPU: generate data, train, evaluate ss and ms.

    python tools/demo_seg.py [--work-dir work_dirs/seg_demo] [--max-iters N]

1. writes the ADE20K-layout demo dataset to ``WORK_DIR/data`` (skipped when
   it is there already),
2. trains ``configs/_demo_/upernet_unireplknet-a_seg-demo.py`` with
   ``tools/train.py``,
3. evaluates the last checkpoint with ``tools/test.py`` single-scale and
   with ``--tta`` (multi-scale + flip),
4. prints both results and writes them to ``WORK_DIR/demo_results.json``
   (mIoU, aAcc, mAcc and per-class IoU/Acc of both evaluations, times).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', '_demo_',
                       'upernet_unireplknet-a_seg-demo.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/seg_demo')
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument(
        '--max-iters', type=int, help='training iterations (config: 200)')
    parser.add_argument('--num-train', type=int, default=48)
    parser.add_argument('--num-val', type=int, default=12)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='CPU threads per process (OMP_NUM_THREADS; default 1: with '
        'one data worker this uses 2 cores and, unlike multi-threaded '
        'OpenMP, does not collapse when other jobs share the CPU)')
    return parser.parse_args(argv)


def _run(script: str, *args: str, threads: int = 1) -> None:
    cmd = [sys.executable, osp.join(ROOT, 'tools', script), *args]
    print('+ ' + ' '.join(cmd), flush=True)
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    if threads > 0:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    subprocess.run(cmd, check=True, env=env)


def main(argv=None) -> dict:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'data')
    if not osp.isdir(osp.join(data_root, 'annotations', 'validation')):
        sys.path.insert(0, ROOT)
        from mmunireplk.seg.demo_data import generate_ade20k_demo
        generate_ade20k_demo(
            data_root,
            num_train=args.num_train,
            num_val=args.num_val,
            seed=args.seed)
        print(f'demo data written to {data_root}')

    data_options = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
    ]
    train_options = list(data_options)
    if args.max_iters:
        train_options += [
            f'train_cfg.max_iters={args.max_iters}',
            f'train_cfg.val_interval={args.max_iters}',
            f'default_hooks.checkpoint.interval={args.max_iters}',
            f'param_scheduler.1.end={args.max_iters}',
            'param_scheduler.0.end='
            f'{max(1, min(20, args.max_iters // 10))}',
        ]
    train_dir = osp.join(work_dir, 'train')
    start = time.time()
    _run('train.py', args.config, '--work-dir', train_dir, '--cfg-options',
         *train_options, threads=args.threads)
    train_time = time.time() - start
    with open(osp.join(train_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    results = dict(checkpoint=checkpoint, train_time_s=round(train_time, 1))
    for mode, extra in (('single_scale', []), ('multi_scale', ['--tta'])):
        json_out = osp.join(work_dir, f'{mode}.json')
        start = time.time()
        _run('test.py', args.config, checkpoint, '--work-dir',
             osp.join(work_dir, mode), '--json-out', json_out,
             '--cfg-options', *data_options, *extra, threads=args.threads)
        with open(json_out) as f:
            results[mode] = json.load(f)['metrics']
        results[mode]['time_s'] = round(time.time() - start, 1)

    out = osp.join(work_dir, 'demo_results.json')
    with open(out, 'w') as f:
        json.dump(results, f, indent=2)
    print(f'\nUniRepLKNet-A UPerNet demo (training {train_time:.0f} s)')
    for mode in ('single_scale', 'multi_scale'):
        r = results[mode]
        print(f'  {mode:12s} mIoU {r["mIoU"]:.2f}  aAcc {r["aAcc"]:.2f}  '
              f'mAcc {r["mAcc"]:.2f}  ({r["time_s"]:.0f} s)')
    print(f'results written to {out}')
    return results


if __name__ == '__main__':
    main()
