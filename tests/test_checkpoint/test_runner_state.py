# Copyright (c) mmunireplk contributors. All rights reserved.
"""Runner state stored as plain data: loads with torch's own weights-only
loader and comes back as the same mmengine objects and values."""
import copy
import random

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmunireplk.checkpoint import (load_checkpoint_file, restore_runner_state,
                                   runner_state_to_plain)
from mmunireplk.checkpoint.runner_state import get_rng_state, set_rng_state


def runner_checkpoint() -> dict:
    hub = MessageHub.get_instance('test_runner_state')
    for i in range(5):
        hub.update_scalar('train/loss', 1.0 / (i + 1), count=2)
        hub.update_scalar('train/lr', np.float32(1e-4 * i))
    hub.update_info('best_score', np.float64(0.75))
    hub.update_info('palette', np.arange(6, dtype=np.uint8).reshape(2, 3))
    hub.update_info('last_ckpt', 'work_dirs/iter_5.pth')
    return dict(
        meta=dict(epoch=1, iter=5, seed=np.int64(3),
                  dataset_meta=dict(classes=('a', 'b'))),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())


def test_plain_checkpoint_loads_weights_only_and_round_trips(tmp_path):
    original = runner_checkpoint()
    path = str(tmp_path / 'ckpt.pth')
    torch.save(runner_state_to_plain(copy.deepcopy(original)), path)
    torch.load(path, weights_only=True)  # no allow-list needed

    loaded = load_checkpoint_file(path)
    assert loaded['meta']['seed'] == 3
    hub = loaded['message_hub']
    for key, buffer in original['message_hub']['log_scalars'].items():
        restored = hub['log_scalars'][key]
        assert isinstance(restored, HistoryBuffer)
        for a, b in zip(buffer.data, restored.data):
            assert a.dtype == b.dtype and np.array_equal(a, b), key
        assert restored.mean() == buffer.mean()
    info = hub['runtime_info']
    assert info['best_score'] == 0.75 and info['last_ckpt'].endswith('5.pth')
    assert info['palette'].dtype == np.uint8
    assert np.array_equal(info['palette'],
                          original['message_hub']['runtime_info']['palette'])
    assert hub['resumed_keys'] == original['message_hub']['resumed_keys']

    # mmengine's MessageHub accepts it as its own state dict
    target = MessageHub.get_instance('test_runner_state_target')
    target.load_state_dict(hub)
    assert target.get_scalar('train/loss').current() == 0.2


def test_restore_leaves_other_checkpoints_alone():
    checkpoint = dict(state_dict=dict(w=torch.ones(1)), meta=dict(epoch=2))
    assert restore_runner_state(dict(checkpoint)) == checkpoint


def test_rng_state_round_trip(tmp_path):
    state = get_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    path = str(tmp_path / 'rng.pth')
    torch.save(dict(rng_state=state), path)
    set_rng_state(torch.load(path, weights_only=True)['rng_state'])
    assert (random.random(), np.random.rand(),
            torch.rand(1).item()) == expected
