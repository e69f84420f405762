# Copyright (c) mmunireplk contributors. All rights reserved.
"""Resume on a GPU: mmengine's ``Runner.resume`` reads the checkpoint with
``map_location`` set to the run's device (``'cuda'``). The plain runner
state (numpy arrays, RNG states) must still come back, and the weights
must land on that device. ``'meta'`` stands in for CUDA on the CPU."""
import copy

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from mmunireplk.checkpoint import install_safe_loaders, runner_state_to_plain
from mmunireplk.checkpoint.runner_state import (RNG_STATE_KEY, get_rng_state,
                                                rank_rng_states,
                                                set_rng_state)
from tests.test_checkpoint.test_runner_state import runner_checkpoint

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def saved_runner_checkpoint(tmp_path):
    """What SafeCheckpointHook writes: plain runner state, RNG states,
    weights and optimizer state."""
    checkpoint = runner_checkpoint()
    checkpoint['optimizer'] = dict(
        state={0: dict(step=torch.tensor(5.), exp_avg=torch.ones(2))},
        param_groups=[dict(lr=0.1, params=[0])])
    checkpoint[RNG_STATE_KEY] = rank_rng_states([get_rng_state()])
    next_draws = torch.rand(3)  # what the restored state must draw next
    path = str(tmp_path / 'iter_5.pth')
    torch.save(runner_state_to_plain(copy.deepcopy(checkpoint)), path)
    return path, next_draws


def test_resume_reads_runner_state_with_a_device_map_location(
        saved_runner_checkpoint):
    path, next_draws = saved_runner_checkpoint
    install_safe_loaders()
    loaded = _load_checkpoint(path, map_location='meta')

    # weights and optimizer state go where resume asked
    assert loaded['state_dict']['w'].device.type == 'meta'
    exp_avg = loaded['optimizer']['state'][0]['exp_avg']
    assert exp_avg.device.type == 'meta'
    # runner state comes back as mmengine objects with its values
    scalars = loaded['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    assert scalars['train/loss'].current() == pytest.approx(0.2)
    palette = loaded['message_hub']['runtime_info']['palette']
    assert isinstance(palette, np.ndarray) and palette.dtype == np.uint8
    assert loaded['meta']['seed'] == 3
    # the RNG states are CPU byte tensors that torch can restore
    state = loaded[RNG_STATE_KEY]['ranks'][0]
    assert state['torch'].device.type == 'cpu'
    set_rng_state(state)
    assert torch.equal(torch.rand(3), next_draws)


def test_cpu_map_location_keeps_everything_on_cpu(saved_runner_checkpoint):
    install_safe_loaders()
    loaded = _load_checkpoint(saved_runner_checkpoint[0], map_location='cpu')
    assert loaded['state_dict']['w'].device.type == 'cpu'
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)


def test_callable_map_location_is_torchs(saved_runner_checkpoint):
    install_safe_loaders()
    seen = []

    def location(storage, where):
        seen.append(where)
        return storage

    loaded = _load_checkpoint(saved_runner_checkpoint[0],
                              map_location=location)
    assert seen and loaded['meta']['seed'] == 3
