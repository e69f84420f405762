# Copyright (c) mmunireplk contributors. All rights reserved.
"""Every config writes weights-only-loadable checkpoints, under our tools
and the upstream ones alike: SafeCheckpointHook is in its custom_hooks."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from tests.helpers import REPO

CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'unireplknet', '*.py')) +
    glob.glob(osp.join(REPO, 'configs', '_demo_', '*.py')))


@pytest.mark.parametrize(
    'config', CONFIGS, ids=[osp.basename(c)[:-3] for c in CONFIGS])
def test_safe_checkpoint_hook_in_every_config(config):
    cfg = Config.fromfile(config)
    hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
    assert 'mmunireplk.SafeCheckpointHook' in hooks, hooks
    assert 'mmunireplk' in cfg.custom_imports.imports
