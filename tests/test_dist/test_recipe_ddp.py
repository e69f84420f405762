# Copyright (c) mmunireplk contributors. All rights reserved.
"""The shipped detection and segmentation recipes under DDP on the CPU.

Two gloo processes run ``tools/train.py CONFIG --launcher pytorch`` under
``torch.distributed.run``, as ``tools/dist_train.sh`` does, on the configs
of Cascade Mask R-CNN 3x and UPerNet 160k with UniRepLKNet-T. The configs
are loaded from their files and shrunk to run in seconds: atto backbone
without pretrained weights, image sizes / 8, narrow heads, fewer proposals
and RoIs, tiny generated datasets, no validation, a fixed seed. The rest is
the recipe's: SyncBN (a gloo stand-in, ``recipe_standins.py``), activation
checkpointing, drop path, layer-wise lr decay, AdamW, the schedulers, the
augmentation, 2 images per process; both get the EMA hook of the
ImageNet-22K detection configs (no UPerNet config ships one), and the T
UPerNet config's ``with_cp=False`` becomes True (as in its S and larger
variants). Three runs per recipe:

- ``cp``: 3 steps with ``with_cp=True`` and a checkpoint after step 2;
- ``twin``: 1 step with ``with_cp=False``, the same seed and data;
- ``resumed``: ``--resume`` in a work dir that holds the step-2
  checkpoint and its ``last_checkpoint`` file, as a preempted job leaves it.
"""
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
from types import SimpleNamespace
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config

from tests.helpers import REPO, load_tool

pytestmark = pytest.mark.slow

CONFIG_DIR = osp.join(REPO, 'configs', 'unireplknet')
RECIPES = {
    'det': ('cascade-mask-rcnn_unireplknet-t_fpn_4conv1fc-giou_'
            'ms-crop-3x_coco.py'),
    'seg': 'upernet_unireplknet-t_8xb2-160k_ade20k-512x512.py',
}
# The recipe that ships the EMA hook (momentum 1e-4, warm-up, buffers).
EMA_RECIPE = ('cascade-mask-rcnn_unireplknet-s-in22k_fpn_4conv1fc-giou_'
              'ms-crop-3x_coco.py')
STANDINS = 'tests.test_dist.recipe_standins'
WORLD_SIZE = 2
STEPS = 3
SIZE_DIVISOR = 8
ATTO_CHANNELS = [40, 80, 160, 320]
HEAD_CHANNELS = 32
LAUNCH_TIMEOUT = 300
# the generators of the demo datasets
DET_DATA = load_tool('tools/demo_det_data.py')
SEG_DATA = load_tool('tools/demo_seg_data.py')


def _divide(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_divide(v) for v in value)
    return int(value) // SIZE_DIVISOR


def _shrink_sizes(node) -> None:
    """Divide every ``scale``, ``scales`` and ``crop_size`` of a pipeline by
    SIZE_DIVISOR, in place (the augmentation itself is kept)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('scale', 'scales', 'crop_size'):
                node[key] = _divide(value)
            else:
                _shrink_sizes(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _shrink_sizes(value)


def _norm_types(node) -> set:
    """Types of all ``norm_cfg`` entries below ``node``."""
    types = set()
    if isinstance(node, dict):
        norm_cfg = node.get('norm_cfg')
        if isinstance(norm_cfg, dict):
            types.add(norm_cfg.get('type'))
        for value in node.values():
            types |= _norm_types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            types |= _norm_types(value)
    return types


def _det_config(data_root: str) -> Config:
    cfg = Config.fromfile(osp.join(CONFIG_DIR, RECIPES['det']))
    model, channels = cfg.model, HEAD_CHANNELS
    model.neck.update(in_channels=ATTO_CHANNELS, out_channels=channels)
    model.rpn_head.update(in_channels=channels, feat_channels=channels)
    roi_head = model.roi_head
    roi_head.bbox_roi_extractor.out_channels = channels
    roi_head.mask_roi_extractor.out_channels = channels
    for head in roi_head.bbox_head:
        head.update(in_channels=channels, conv_out_channels=channels,
                    fc_out_channels=2 * channels)
    roi_head.mask_head.update(in_channels=channels,
                              conv_out_channels=channels)
    model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    for stage in model.train_cfg.rcnn:
        stage.sampler.num = 32
    dataset = cfg.train_dataloader.dataset
    dataset.update(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=DET_DATA.DEMO_CLASSES))
    _shrink_sizes(dataset.pipeline)
    # 4 images on 2 processes x 2: one iteration per epoch
    cfg.train_cfg.max_epochs = STEPS
    return cfg


def _seg_config(data_root: str) -> Config:
    cfg = Config.fromfile(osp.join(CONFIG_DIR, RECIPES['seg']))
    model = cfg.model
    model.data_preprocessor.size = _divide(model.data_preprocessor.size)
    model.decode_head.update(in_channels=ATTO_CHANNELS,
                             channels=HEAD_CHANNELS)
    aux = model.auxiliary_head
    aux.update(in_channels=ATTO_CHANNELS[aux.in_index],
               channels=HEAD_CHANNELS // 2)
    cfg.train_dataloader.dataset.data_root = data_root
    _shrink_sizes(cfg.train_dataloader.dataset.pipeline)
    cfg.train_cfg.max_iters = STEPS
    cfg.default_hooks.checkpoint.interval = STEPS - 1
    return cfg


def _recipe_config(task: str, data_root: str) -> Config:
    """The shrunk recipe, with the test's stand-ins, EMA and probe."""
    cfg = _det_config(data_root) if task == 'det' else _seg_config(data_root)
    backbone = cfg.model.backbone
    assert backbone.drop_path_rate > 0 and backbone.use_sync_bn
    # every BN of the recipe is a SyncBN: the runner swaps all of them
    assert _norm_types(cfg.model) == {'SyncBN'}, _norm_types(cfg.model)
    backbone.update(arch='atto', init_cfg=None)
    # the T segmentation config ships with_cp=False, S and larger True
    backbone.with_cp = True
    for split in ('val', 'test'):
        for key in ('dataloader', 'cfg', 'evaluator'):
            cfg[f'{split}_{key}'] = None
    # the twin and the resumed run see the same random draws
    cfg.randomness = dict(seed=0)
    ema_hooks = [
        hook for hook in Config.fromfile(osp.join(
            CONFIG_DIR, EMA_RECIPE)).custom_hooks
        if hook['type'] == 'EMAHook'
    ]
    assert len(ema_hooks) == 1
    if task == 'seg':
        # no UPerNet config ships EMA; this one's average is mmdet's
        ema_hooks[0].ema_type = 'mmdet.' + ema_hooks[0].ema_type
    cfg.custom_hooks = [
        *ema_hooks, *cfg.get('custom_hooks', []),
        dict(type='RecipeProbeHook')
    ]
    imports = cfg.get('custom_imports', {}).get('imports', [])
    cfg.custom_imports = dict(
        imports=[*imports, STANDINS], allow_failed_imports=False)
    cfg.runner_type = 'StandInSyncBNRunner'
    return cfg


def _train(config: str, work_dir: str, *args: str) -> List[dict]:
    """``tools/train.py`` in 2 gloo processes; the probes of the ranks."""
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--standalone',
        f'--nproc_per_node={WORLD_SIZE}', 'tools/train.py', config,
        '--launcher', 'pytorch', '--work-dir', work_dir, *args
    ]
    env = dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1')
    # a session of its own: a hang kills the workers and their data loaders
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'2-process training did not finish within '
                    f'{LAUNCH_TIMEOUT} s (hang?):\n{out[-6000:]}')
    assert proc.returncode == 0, out[-8000:]
    return [
        torch.load(osp.join(work_dir, f'probe_rank{rank}.pt'),
                   weights_only=False) for rank in range(WORLD_SIZE)
    ]


def _different(a: Dict[str, torch.Tensor],
               b: Dict[str, torch.Tensor]) -> List[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture(scope='module', params=sorted(RECIPES))
def recipe(request, tmp_path_factory) -> SimpleNamespace:
    """Data and configs (with_cp on and off) of one shrunk recipe."""
    task = request.param
    root = tmp_path_factory.mktemp(f'recipe_{task}')
    data_root = str(root / 'data')
    if task == 'det':
        DET_DATA.generate_demo_coco(
            data_root, num_train=2 * WORLD_SIZE, num_val=1,
            img_size=(64, 64), splits=('train', ))
        checkpoint = f'epoch_{STEPS - 1}.pth'
        final = f'epoch_{STEPS}.pth'
    else:
        SEG_DATA.generate_ade20k_demo(
            data_root, num_train=2 * WORLD_SIZE, num_val=1,
            size_range=(64, 96))
        checkpoint, final = f'iter_{STEPS - 1}.pth', f'iter_{STEPS}.pth'
    cfg = _recipe_config(task, data_root)
    cp_config = str(root / 'cp.py')
    cfg.dump(cp_config)
    cfg.model.backbone.with_cp = False
    if task == 'det':
        cfg.train_cfg.max_epochs = 1
    else:
        cfg.train_cfg.max_iters = 1
    twin_config = str(root / 'twin.py')
    cfg.dump(twin_config)
    yield SimpleNamespace(
        task=task, root=root, cp_config=cp_config, twin_config=twin_config,
        checkpoint=checkpoint, final=final)
    # about 1 GB of checkpoints and probes per recipe
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='module')
def cp_run(recipe) -> List[dict]:
    return _train(recipe.cp_config, str(recipe.root / 'cp'))


@pytest.fixture(scope='module')
def twin_run(recipe) -> List[dict]:
    return _train(recipe.twin_config, str(recipe.root / 'twin'))


@pytest.fixture(scope='module')
def resumed_run(recipe, cp_run) -> List[dict]:
    work_dir = recipe.root / 'resumed'
    work_dir.mkdir()
    shutil.copy(recipe.root / 'cp' / recipe.checkpoint, work_dir)
    (work_dir / 'last_checkpoint').write_text(
        str(work_dir / recipe.checkpoint))
    return _train(recipe.cp_config, str(work_dir), '--resume')


@pytest.mark.timeout(600)
def test_recipe_features_on_and_ranks_agree(recipe, cp_run):
    for rank, probe in enumerate(cp_run):
        features = probe['features']
        assert features['ddp'] and features['backend'] == 'gloo'
        assert features['world_size'] == WORLD_SIZE
        assert features['num_bn'] > 0
        assert features['num_stand_in'] == features['num_bn'], features
        assert features['with_cp'] and all(features['with_cp'])
        assert max(features['drop_path']) > 0
        assert {'EMAHook', 'SafeCheckpointHook'} <= set(features['hooks'])
        # parameter groups of the layer-wise lr decay constructor
        assert all(
            name.startswith('layer_') for name in features['group_names'])
        if recipe.task == 'det':  # decay 0.8; the T UPerNet uses 1.0
            assert len(features['lr_scales']) > 1
        assert probe['steps'] == list(range(1, STEPS + 1)), rank
        # no unused parameters under DDP, and a training signal
        assert probe['no_grad'] == [], probe['no_grad'][:5]
        assert any(g.abs().max() > 0 for g in probe['grads'].values())
        # BN statistics: one update per step (the checkpointed blocks
        # recompute their forward during backward)
        for step, bn in zip(probe['steps'], probe['bn']):
            counts = {
                k: int(v)
                for k, v in bn.items() if k.endswith('num_batches_tracked')
            }
            assert len(counts) == features['num_bn']
            wrong = {k: c for k, c in counts.items() if c != step}
            assert not wrong, (step, list(wrong.items())[:5])
    first, second = cp_run
    assert not _different(first['grads'], second['grads'])
    assert not _different(first['state'], second['state'])
    assert not _different(first['ema'], second['ema'])


@pytest.mark.timeout(600)
def test_with_cp_matches_the_twin_without(recipe, cp_run, twin_run):
    for rank, (cp, twin) in enumerate(zip(cp_run, twin_run)):
        assert not any(twin['features']['with_cp'])
        assert twin['steps'] == [1]
        # the same forward: the same batch statistics
        assert cp['bn'][0].keys() == twin['bn'][0].keys()
        for name, value in twin['bn'][0].items():
            torch.testing.assert_close(
                cp['bn'][0][name], value, rtol=1e-5, atol=1e-6,
                msg=lambda m, name=name: f'rank {rank} {name}: {m}')
        # the same gradients up to fp32 rounding (the summation order of
        # the recomputed graph may differ); drop path must have drawn the
        # same masks in the recomputation
        assert cp['grads'].keys() == twin['grads'].keys()
        for name, grad in twin['grads'].items():
            scale = grad.abs().max().item()
            error = (cp['grads'][name] - grad).abs().max().item()
            assert error <= 1e-5 * scale + 1e-12, (rank, name, error, scale)


@pytest.mark.timeout(600)
def test_resume_continues_exactly(recipe, cp_run, resumed_run):
    for rank, (full, resumed) in enumerate(zip(cp_run, resumed_run)):
        # it did resume: only the last step ran
        assert resumed['features']['start_iter'] == STEPS - 1, rank
        assert resumed['steps'] == [STEPS], rank
        # and that step changed the weights
        assert _different(resumed['initial'], resumed['state'])
        # the resumed step saw the data and RNG states of the uninterrupted
        # run's step (fresh data workers restart their RNG streams: with
        # persistent workers an epoch-based run's workers do not)
        assert resumed['batches'][0] == full['batches'][-1], (
            rank, 'data', resumed['batches'][0], full['batches'])
        assert resumed['rng'][0] == full['rng'][-1], (
            rank, 'RNG', resumed['rng'][0], full['rng'])
        different = _different(full['state'], resumed['state'])
        assert not different, (rank, len(different), different[:5])
        different = _different(full['ema'], resumed['ema'])
        assert not different, (rank, len(different), different[:5])

    def optimizer_state(run: str) -> Dict[str, torch.Tensor]:
        checkpoint = torch.load(
            osp.join(recipe.root, run, recipe.final), map_location='cpu',
            weights_only=False)
        return {
            f'{index}.{key}': value
            for index, state in checkpoint['optimizer']['state'].items()
            for key, value in state.items()
        }

    different = _different(optimizer_state('cp'), optimizer_state('resumed'))
    assert not different, (len(different), different[:5])
