# Copyright (c) mmunireplk contributors. All rights reserved.
"""Train a detector, segmentor or classifier from a config (mmdet / mmseg /
mmpretrain style CLI).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
        [--amp [{fp16,bf16}]] [--no-tf32] [--device {auto,cuda,cpu}]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]
        [--trust-checkpoint]

The task is read off the config. On a GPU, TF32 is on unless ``--no-tf32``
and a preflight runs torch and (for detectors) mmcv's ops on the device
first; a GPU node whose CUDA is unusable stops with the cause. On the CPU
(none present, or ``--device cpu`` on purpose) SyncBN becomes BN,
distributed runs use gloo and ``--amp`` falls back to fp32 with a warning.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

try:
    import mmunireplk  # noqa: F401  (registers modules, safe loader)
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmunireplk  # noqa: F401
from mmunireplk.checkpoint import (add_trust_argument, install_safe_loaders,
                                   set_trust_env)
from mmunireplk.utils import detect_task

from launch_utils import (add_device_arguments, adapt_to_cpu,
                          add_safe_checkpoint_hook, distributed_run,
                          prepare_device, set_amp, use_atomic_checkpoints)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train a detector, segmentor or classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        nargs='?',
        const='fp16',
        choices=['fp16', 'bf16'],
        help='automatic mixed precision on a CUDA GPU: fp16 (the default of '
        'a bare --amp, dynamic loss scaling) or bf16 (A100 / H100)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual total batch size relative to '
        'auto_scale_lr.base_batch_size of the config')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or without a path from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'model.backbone.init_cfg.checkpoint=PATH train_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    add_device_arguments(parser)
    add_trust_argument(parser)
    # torch.distributed.launch passes --local-rank / --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> 'tuple[Config, list]':
    """Load the config and apply the command-line options to it."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    messages = prepare_device(args, detect_task(cfg))
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    messages += set_amp(cfg, args.amp)
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise KeyError('--auto-scale-lr needs auto_scale_lr = dict('
                           'base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    messages += adapt_to_cpu(cfg, args.launcher)
    use_atomic_checkpoints(cfg)
    add_safe_checkpoint_hook(cfg)
    return cfg, messages


def main(argv=None) -> None:
    args = parse_args(argv)
    set_trust_env(args.trust_checkpoint)
    install_safe_loaders()
    cfg, messages = build_config(args)
    with distributed_run(args.launcher):
        if 'runner_type' in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        task = detect_task(cfg)
        runner.logger.info(f'Task: {task or "unknown (generic runner)"}')
        for message in messages:
            runner.logger.warning(message)
        runner.train()


if __name__ == '__main__':
    main()
