# Copyright (c) mmunireplk contributors. All rights reserved.
"""One convention for the CPU demos (``demo_det.py``, ``demo_seg.py``,
``demo_cls.py`` in this folder).

Every demo: generates its data under ``data/<task>_demo`` (again when the
requested size or seed differs or an earlier write was interrupted: the
manifest ``demo_data.json`` is written last), trains its config with an
in-process mmengine ``Runner`` prepared as ``tools/train.py`` prepares one,
evaluates the last checkpoint once per evaluation mode (``single_scale``,
and ``multi_scale`` through the config's TTA where the demo asks for it),
prints a summary and writes ``<work_dir>/metrics.json`` and a picture of
predictions on validation images, ``<work_dir>/predictions.png``.
"""
import argparse
import copy
import dataclasses
import json
import os.path as osp
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmunireplk.checkpoint import AtomicLocalBackend, install_safe_loaders
from mmunireplk.utils import to_builtin

from launch_utils import (adapt_to_cpu, add_safe_checkpoint_hook, enable_tta,
                          keep_freed_memory_for_reuse, use_atomic_checkpoints)
from visualization import save_prediction_grid

DATA_MANIFEST = 'demo_data.json'
RESULTS_FILE = 'metrics.json'
PICTURE_FILE = 'predictions.png'
#: Validation images drawn in the picture.
PICTURE_IMAGES = 8
EVALUATIONS = ('single_scale', 'multi_scale')


@dataclasses.dataclass
class DemoSpec:
    """What distinguishes one demo from another.

    Args:
        task (str): ``'det'``, ``'seg'`` or ``'cls'``; names the default
            data (``data/<task>_demo``) and work (``work_dirs/<task>_demo``)
            folders.
        config (str): The demo config.
        generate (callable): ``generate(root, **data_params)`` writes the
            dataset.
        data_params (dict): Default generator arguments (size, seed ...).
        summarize (callable): ``summarize(metrics) -> lines`` for the
            printed summary (``metrics``: evaluation mode -> metrics).
        val_images (callable): ``val_images(root) -> paths``: validation
            images drawn in the predictions picture.
        evaluations (Sequence[str]): Subset of :data:`EVALUATIONS`.
        point_evaluators_to_data (callable, optional):
            ``point_evaluators_to_data(cfg, root)`` for evaluators that read
            files of the dataset (the dataloaders are pointed at ``root``
            for every demo).
    """
    task: str
    config: str
    generate: Callable[..., object]
    data_params: Dict[str, object]
    summarize: Callable[[Dict[str, dict]], List[str]]
    val_images: Callable[[str], List[str]]
    evaluations: Sequence[str] = dataclasses.field(
        default=('single_scale', ))
    point_evaluators_to_data: Optional[Callable[[Config, str], None]] = None


def ensure_demo_data(root: str, generate: Callable[..., object],
                     **params) -> bool:
    """Generate the demo data under ``root`` unless a complete dataset
    written with the same ``params`` is there.

    The manifest (``params`` as JSON) is written last and atomically, so a
    missing or different manifest means the data must be written again
    (the folder is emptied first).

    Returns:
        bool: Whether the data was (re)generated.
    """
    manifest = osp.join(root, DATA_MANIFEST)
    wanted = to_builtin(params)
    if osp.isfile(manifest):
        try:
            with open(manifest) as f:
                if json.load(f) == wanted:
                    return False
        except (OSError, ValueError):
            pass  # unreadable manifest: regenerate
    if osp.isdir(root):
        shutil.rmtree(root)
    print(f'Generating the demo dataset in {root} ...', flush=True)
    generate(root, **params)
    AtomicLocalBackend().put_text(json.dumps(wanted, indent=2), manifest)
    return True


def point_config_to_data(spec: DemoSpec, cfg: Config, data_root: str) -> None:
    """Point the config's dataloaders (and evaluators that read dataset
    files) at ``data_root``."""
    data_root = osp.join(data_root, '')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            cfg[loader].dataset.data_root = data_root
    if spec.point_evaluators_to_data is not None:
        spec.point_evaluators_to_data(cfg, data_root)


def build_demo_config(spec: DemoSpec,
                      data_root: str,
                      work_dir: str,
                      cfg_options: Optional[dict] = None,
                      seed: Optional[int] = None,
                      adjust: Optional[Callable[[Config], None]] = None
                      ) -> Config:
    """The demo config at ``data_root`` / ``work_dir``, prepared like
    ``tools/train.py`` (CPU adaptation, atomic and weights-only-loadable
    checkpoints), with evaluation left to :func:`run_demo`."""
    cfg = Config.fromfile(spec.config)
    point_config_to_data(spec, cfg, data_root)
    # evaluate once, after training
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    if seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    if adjust is not None:
        adjust(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir
    for message in adapt_to_cpu(cfg, 'none'):
        print(message, flush=True)
    use_atomic_checkpoints(cfg)
    add_safe_checkpoint_hook(cfg)
    return cfg


def _evaluate(cfg: Config, checkpoint: str, mode: str) -> dict:
    cfg = copy.deepcopy(cfg)
    if mode == 'multi_scale':
        enable_tta(cfg)
    cfg.load_from, cfg.resume = checkpoint, False
    cfg.experiment_name = f'{mode}_{time.strftime("%Y%m%d_%H%M%S")}'
    return to_builtin(Runner.from_cfg(cfg).test())


def run_demo(spec: DemoSpec,
             data_root: Optional[str] = None,
             work_dir: Optional[str] = None,
             cfg_options: Optional[dict] = None,
             seed: Optional[int] = None,
             threads: int = 1,
             data_params: Optional[dict] = None,
             adjust: Optional[Callable[[Config], None]] = None) -> dict:
    """Generate data, train, evaluate, print and save the results.

    Args:
        spec (DemoSpec): The demo.
        data_root (str, optional): Defaults to ``data/<task>_demo``.
        work_dir (str, optional): Defaults to ``work_dirs/<task>_demo``.
        cfg_options (dict, optional): Config overrides.
        seed (int, optional): Training seed (``randomness.seed``).
        threads (int): torch CPU threads; 0 keeps torch's default.
        data_params (dict, optional): Overrides of ``spec.data_params``.
        adjust (callable, optional): ``adjust(cfg)`` edits the config
            before ``cfg_options`` apply (e.g. a shorter schedule).

    Returns:
        dict: What ``<work_dir>/metrics.json`` holds.
    """
    data_root = data_root or osp.join('data', f'{spec.task}_demo')
    work_dir = work_dir or osp.join('work_dirs', f'{spec.task}_demo')
    if threads > 0:
        torch.set_num_threads(threads)
    start = time.time()
    params = dict(spec.data_params, **(data_params or {}))
    ensure_demo_data(data_root, spec.generate, **params)
    data_seconds = time.time() - start
    cfg = build_demo_config(spec, data_root, work_dir, cfg_options, seed,
                            adjust)
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_seconds = time.time() - start - data_seconds
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    metrics, seconds = {}, {}
    for mode in spec.evaluations:
        tic = time.time()
        metrics[mode] = _evaluate(cfg, checkpoint, mode)
        seconds[mode] = round(time.time() - tic, 1)
    picture = save_prediction_grid(
        cfg, checkpoint,
        sorted(spec.val_images(data_root))[:PICTURE_IMAGES],
        osp.join(work_dir, PICTURE_FILE), task=spec.task)
    result = dict(
        task=spec.task,
        config=spec.config,
        data_root=data_root,
        data=to_builtin(params),
        checkpoint=checkpoint,
        data_seconds=round(data_seconds, 1),
        train_seconds=round(train_seconds, 1),
        eval_seconds=seconds,
        total_seconds=round(time.time() - start, 1),
        metrics=metrics,
        picture=picture)
    json_path = osp.join(work_dir, RESULTS_FILE)
    AtomicLocalBackend().put_text(json.dumps(result, indent=2), json_path)
    print('\n' + '\n'.join(spec.summarize(metrics)))
    print(f'  training {train_seconds / 60:.1f} min, '
          f'{result["total_seconds"] / 60:.1f} min in total; results '
          f'written to {json_path}, predictions drawn in {picture}')
    return result


def demo_parser(spec: DemoSpec) -> argparse.ArgumentParser:
    """The command-line arguments every demo shares."""
    parser = argparse.ArgumentParser(
        description=f'CPU {spec.task} demo: generate data, train, evaluate')
    parser.add_argument('--config', default=spec.config, help='demo config')
    parser.add_argument(
        '--data-root', help=f'dataset folder (data/{spec.task}_demo)')
    parser.add_argument(
        '--work-dir', help=f'output folder (work_dirs/{spec.task}_demo)')
    for name in ('num_train', 'num_val'):
        parser.add_argument(
            '--' + name.replace('_', '-'),
            type=int,
            default=spec.data_params[name],
            help=f'{name.split("_")[1]} images (default '
            f'{spec.data_params[name]})')
    parser.add_argument(
        '--seed', type=int, help='training seed (randomness.seed)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch CPU threads (default 1: with one data worker this uses '
        '2 cores and, unlike multi-threaded OpenMP, does not collapse when '
        'other jobs share the CPU; 0 keeps torch\'s default)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_dataloader.num_workers=0')
    return parser


def run_demo_cli(spec: DemoSpec,
                 argv: Optional[Sequence[str]] = None,
                 schedule_flag: Optional[str] = None,
                 set_schedule: Optional[Callable[[Config, int], None]] = None
                 ) -> dict:
    """Parse a demo's command line and run it.

    Sets what a tool sets for its whole process: mmengine reads checkpoints
    weights-only (:func:`~mmunireplk.checkpoint.install_safe_loaders`) and,
    without CUDA, glibc's malloc keeps freed memory for reuse
    (``launch_utils.keep_freed_memory_for_reuse``).

    Args:
        spec (DemoSpec): The demo.
        argv (Sequence[str], optional): Arguments (default ``sys.argv``).
        schedule_flag (str, optional): A flag setting the schedule length,
            e.g. ``'--epochs'``, passed to ``set_schedule(cfg, value)``.
    """
    parser = demo_parser(spec)
    if schedule_flag:
        parser.add_argument(
            schedule_flag, type=int, help='training length (config default)')
    args = parser.parse_args(argv)
    install_safe_loaders()
    if not torch.cuda.is_available() and keep_freed_memory_for_reuse():
        print('No CUDA: glibc malloc keeps freed memory for reuse (fewer '
              'page faults in CPU training)', flush=True)
    spec = dataclasses.replace(spec, config=args.config)
    length = getattr(args, schedule_flag.lstrip('-').replace('-', '_'),
                     None) if schedule_flag else None
    return run_demo(
        spec,
        args.data_root,
        args.work_dir,
        cfg_options=args.cfg_options,
        seed=args.seed,
        threads=args.threads,
        data_params=dict(num_train=args.num_train, num_val=args.num_val),
        adjust=None if length is None else
        (lambda cfg: set_schedule(cfg, length)))
