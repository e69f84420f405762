# Copyright (c) mmunireplk contributors. All rights reserved.
"""Test (evaluate) a detector, segmentor or classifier checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PATH]
        [--show] [--show-dir DIR] [--tta] [--json-out FILE]
        [--no-tf32] [--device {auto,cuda,cpu}]
        [--cfg-options k=v ...] [--launcher pytorch] [--trust-checkpoint]

On a GPU, TF32 is on unless ``--no-tf32`` and the preflight of
``tools/train.py`` runs first.

The checkpoint is read weights-only; ``--trust-checkpoint`` opts in to full
unpickling for a file you trust. Prints the metrics and writes them as JSON
(``--json-out``, by default ``<work_dir>/<timestamp>/metrics.json``).
``--out`` saves the raw predictions as in mmdet (a ``.pkl`` file) or mmseg
(a directory).
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

try:
    import mmunireplk  # noqa: F401  (registers modules, safe loader)
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmunireplk  # noqa: F401
from mmunireplk.checkpoint import (add_trust_argument, install_safe_loaders,
                                   set_trust_env)
from mmunireplk.utils import detect_task, to_builtin

from launch_utils import (add_device_arguments, adapt_to_cpu,
                          distributed_run, enable_tta, prepare_device)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a detector, segmentor or classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        help='detection: dump predictions to this pickle file; '
        'segmentation: save predicted masks to this directory')
    parser.add_argument(
        '--json-out',
        help='write the metrics as JSON here (default: '
        '<work_dir>/<timestamp>/metrics.json)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved (relative to '
        'the run directory for detection, as in mmdet)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation (needs tta_model and tta_pipeline in '
        'the config)')
    add_device_arguments(parser)
    add_trust_argument(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg: Config, task: str,
                         args: argparse.Namespace) -> None:
    """Turn on the visualisation hook for ``--show``/``--show-dir``."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise KeyError('--show/--show-dir need a "visualization" hook in '
                       'default_hooks of the config')
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        if task == 'seg':
            cfg.visualizer['save_dir'] = args.show_dir
        else:
            hook['test_out_dir'] = args.show_dir


def add_prediction_dump(cfg: Config, task: str, out: str) -> None:
    """Save raw predictions as the task's own test tool does."""
    if task == 'seg':
        evaluators = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, list) else [cfg.test_evaluator]
        for evaluator in evaluators:
            evaluator['output_dir'] = out
            evaluator['keep_results'] = True
        return
    if not out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must be a .pkl/.pickle file, got {out}')
    dump_type = 'mmdet.DumpDetResults' if task == 'det' else 'DumpResults'
    dump = ConfigDict(type=dump_type, out_file_path=out)
    if isinstance(cfg.test_evaluator, (list, tuple)):
        cfg.test_evaluator = list(cfg.test_evaluator) + [dump]
    else:
        cfg.test_evaluator = [cfg.test_evaluator, dump]


def main(argv=None) -> None:
    args = parse_args(argv)
    set_trust_env(args.trust_checkpoint)
    install_safe_loaders()
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file not found: {args.config}')
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    task = detect_task(cfg)
    messages = prepare_device(args, task)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False

    if args.show or args.show_dir:
        enable_visualization(cfg, task, args)
    if args.tta:
        enable_tta(cfg)
    if args.out is not None:
        add_prediction_dump(cfg, task, args.out)
    messages += adapt_to_cpu(cfg, args.launcher)

    with distributed_run(args.launcher):
        if 'runner_type' in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        for message in messages:
            runner.logger.warning(message)
        metrics = to_builtin(runner.test())

    if is_main_process():
        json_out = args.json_out or osp.join(runner.log_dir, 'metrics.json')
        os.makedirs(osp.dirname(osp.abspath(json_out)), exist_ok=True)
        with open(json_out, 'w') as f:
            json.dump(
                dict(
                    config=args.config,
                    checkpoint=args.checkpoint,
                    task=task,
                    metrics=metrics),
                f,
                indent=2)
        print('metrics: ' + json.dumps(metrics))
        print(f'metrics written to {json_out}')


if __name__ == '__main__':
    main()
