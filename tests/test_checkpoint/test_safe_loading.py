# Copyright (c) mmunireplk contributors. All rights reserved.
"""A checkpoint whose unpickling would run code is refused on every path
that reads checkpoints, without running it; the opt-in is explicit."""
import os.path as osp
import shutil

import pytest
import torch
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from mmunireplk.checkpoint import (TRUST_ENV, UnsafeCheckpointError,
                                   install_safe_loaders, load_checkpoint_file)
from mmunireplk.models import UniRepLKNet
from tests.helpers import load_tool
from tests.helpers import run_tool as run
from .conftest import SEG_DEMO_CONFIG

CONVERTERS = ('unireplknet_mmdet2_to_mmdet3.py',
              'unireplknet_mmseg0x_to_1x.py',
              'unireplknet_reparameterize.py',
              'unireplknet_to_mmpretrain.py')


@pytest.fixture(autouse=True)
def safe_loaders():
    """mmengine's loaders as our tools and SafeCheckpointHook install them
    (importing mmunireplk does not)."""
    install_safe_loaders()


def assert_refused(message: str, path: str, marker: str) -> None:
    assert 'Refusing to load' in message and path in message, message[-2000:]
    assert 'io.open' in message, message[-2000:]
    assert '--trust-checkpoint' in message
    assert not osp.exists(marker), 'the payload ran'


def test_load_checkpoint_file(payload):
    path, marker = payload
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint_file(path)
    assert error.value.unsafe == ['io.open']
    assert_refused(str(error.value), path, marker)


def test_backbone_pretrained(payload):
    path, marker = payload
    model = UniRepLKNet(
        arch='atto', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(UnsafeCheckpointError) as error:
        model.init_weights()
    assert_refused(str(error.value), path, marker)


def test_mmengine_loaders_once_installed(payload):
    path, marker = payload
    for load in (lambda: CheckpointLoader.load_checkpoint(path),
                 lambda: _load_checkpoint(path),
                 lambda: _load_checkpoint('file://' + path),
                 lambda: load_checkpoint(torch.nn.Linear(1, 1), path)):
        with pytest.raises(UnsafeCheckpointError) as error:
            load()
        assert_refused(str(error.value), path, marker)


def test_mmengine_http_loader(payload, tmp_path, monkeypatch):
    """URLs are downloaded, then read weights-only too."""
    path, marker = payload

    def fake_download(url, dst, progress=True):
        shutil.copy(path, dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(UnsafeCheckpointError) as error:
        CheckpointLoader.load_checkpoint('https://example.org/tampered.pth')
    assert 'Refusing to load' in str(error.value)
    assert not osp.exists(marker)


@pytest.mark.parametrize('tool', CONVERTERS)
def test_converters(payload, tmp_path, tool):
    path, marker = payload
    converter = load_tool(f'tools/model_converters/{tool}')
    out = str(tmp_path / 'out.pth')
    with pytest.raises(UnsafeCheckpointError) as error:
        converter.main([path, out])
    assert_refused(str(error.value), path, marker)
    assert not osp.exists(out)


def seg_tiny_options(data_root: str):
    options = ['train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=1']
    for loader in ('train', 'val', 'test'):
        options += [
            f'{loader}_dataloader.dataset.data_root={data_root}',
            f'{loader}_dataloader.num_workers=0',
            f'{loader}_dataloader.persistent_workers=False'
        ]
    return options


@pytest.mark.slow
@pytest.mark.parametrize('how', ['test.py', 'load_from', 'resume'])
def test_tools(payload, tmp_path, seg_data_root, how):
    path, marker = payload
    options = seg_tiny_options(seg_data_root)
    if how == 'test.py':
        args = ['tools/test.py', SEG_DEMO_CONFIG, path]
    elif how == 'load_from':
        args = ['tools/train.py', SEG_DEMO_CONFIG]
        options.append(f'load_from={path}')
    else:
        args = ['tools/train.py', SEG_DEMO_CONFIG, '--resume', path]
    result = run(args + ['--work-dir', str(tmp_path / 'work'),
                         '--cfg-options', *options])
    assert result.returncode != 0
    assert_refused(result.stdout + result.stderr, path, marker)


def test_opt_in_is_explicit_and_logged(payload, monkeypatch, mm_log):
    path, marker = payload
    checkpoint = load_checkpoint_file(path, trust=True)
    assert osp.exists(marker)  # trusted: the file's code did run
    assert checkpoint['meta']['epoch'] == 1
    assert any('full unpickling' in m and path in m for m in mm_log), mm_log

    import os
    os.remove(marker)
    monkeypatch.setenv(TRUST_ENV, '1')
    CheckpointLoader.load_checkpoint(path)
    assert osp.exists(marker)
    os.remove(marker)
    monkeypatch.setenv(TRUST_ENV, '0')
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(path)
    assert not osp.exists(marker)


@pytest.mark.slow
def test_test_tool_trust_flag(payload, tmp_path, seg_data_root):
    """--trust-checkpoint lets tools/test.py read the file in full."""
    path, marker = payload
    result = run(['tools/test.py', SEG_DEMO_CONFIG, path, '--work-dir',
                  str(tmp_path / 'work'), '--trust-checkpoint',
                  '--cfg-options', *seg_tiny_options(seg_data_root)])
    assert osp.exists(marker)  # the opt-in was honoured (and logged)
    assert 'full unpickling' in result.stdout + result.stderr


def test_unreadable_and_missing_files(tmp_path):
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(RuntimeError, match='Cannot read checkpoint'):
        load_checkpoint_file(str(broken))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
