# Copyright (c) mmunireplk contributors. All rights reserved.
"""tools/image_demo.py and mmunireplk.apis.ImagePredictor."""
import json
import os.path as osp
import shutil

import cv2
import pytest
import torch

from mmunireplk.apis import ImagePredictor
from tests.helpers import load_tool
from .conftest import DET_DEMO_CONFIG, DET_META, SEG_DEMO_CONFIG, SEG_META


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/image_demo.py')


@pytest.fixture
def seg_folder(tmp_path, seg_images):
    """Two images, a text file and a truncated JPEG in a folder tree."""
    folder = tmp_path / 'inputs'
    (folder / 'sub').mkdir(parents=True)
    shutil.copy(seg_images[0], folder / 'a.jpg')
    shutil.copy(seg_images[1], folder / 'sub' / 'b.jpg')
    (folder / 'notes.txt').write_text('not an image')
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 truncated')
    return folder


def test_seg_folder_outputs_and_skips(tool, seg_ckpts, seg_folder, tmp_path,
                                      capsys):
    out_dir = tmp_path / 'out'
    with pytest.warns(UserWarning, match='Skipped .*broken.jpg'):
        result = tool.main([
            str(seg_folder), SEG_DEMO_CONFIG, '--weights', seg_ckpts[0],
            '--out-dir', str(out_dir)
        ])
    assert sorted(osp.basename(p) for p in result['written']) == [
        'a.jpg', 'b.jpg']
    assert sorted(osp.basename(p) for p in result['skipped']) == [
        'broken.jpg', 'notes.txt']
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith('2 of 4 files predicted')
    assert '2 skipped' in summary and 'notes.txt' in summary
    for name in ('a', 'sub__b'):
        vis = cv2.imread(str(out_dir / 'vis' / f'{name}.png'))
        record = json.loads((out_dir / 'preds' / f'{name}.json').read_text())
        labels = cv2.imread(str(out_dir / 'preds' / f'{name}.png'),
                            cv2.IMREAD_UNCHANGED)
        assert labels.shape == (record['height'], record['width'])
        # overlay above, legend strip below
        assert vis.shape[1] == record['width']
        assert vis.shape[0] > record['height']
        assert record['task'] == 'seg'
        assert sum(c['pixels'] for c in record['classes']) == labels.size
        for c in record['classes']:
            assert c['name'] == SEG_META['classes'][c['label']]
            assert c['pixels'] == int((labels == c['label']).sum())


def test_seg_deploy_flag_matches_training_form(tool, seg_ckpts, seg_images,
                                               tmp_path):
    outs = []
    for extra in ([], ['--deploy']):
        out_dir = tmp_path / ('deploy' if extra else 'train')
        tool.main([seg_images[0], SEG_DEMO_CONFIG, '--weights', seg_ckpts[0],
                   '--out-dir', str(out_dir)] + extra)
        name = osp.splitext(osp.basename(seg_images[0]))[0]
        outs.append(cv2.imread(str(out_dir / 'preds' / f'{name}.png'),
                               cv2.IMREAD_UNCHANGED))
    # same labels up to pixels where two classes are nearly tied
    assert (outs[0] == outs[1]).mean() > 0.999


def test_predictor_deploy_switches_backbone(seg_ckpts):
    train = ImagePredictor(SEG_DEMO_CONFIG, seg_ckpts[0])
    deploy = ImagePredictor(SEG_DEMO_CONFIG, seg_ckpts[0], deploy=True)
    converted = ImagePredictor(SEG_DEMO_CONFIG, seg_ckpts[1])
    assert not train.model.backbone.deploy
    assert deploy.model.backbone.deploy and converted.model.backbone.deploy
    x = torch.rand(1, 3, 96, 128)
    ref = train.model.backbone(x)
    for pred in (deploy, converted):
        for a, b in zip(ref, pred.model.backbone(x)):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_det_image_with_glob(tool, det_ckpts, det_images, tmp_path):
    out_dir = tmp_path / 'det'
    pattern = osp.join(osp.dirname(det_images[0]), 'shapes_*.jpg')
    result = tool.main([pattern, DET_DEMO_CONFIG, '--weights', det_ckpts[1],
                        '--out-dir', str(out_dir), '--score-thr', '0.0',
                        '--vis-min-size', '200'])
    assert len(result['written']) == len(det_images)
    record = json.loads((out_dir / 'preds' / 'shapes_0.json').read_text())
    assert record['task'] == 'det' and record['score_thr'] == 0.0
    for inst in record['instances']:
        assert inst['name'] == DET_META['classes'][inst['label']]
        x1, y1, x2, y2 = inst['bbox']
        assert 0 <= x1 <= x2 <= record['width'] + 1e-3
        assert inst['mask']['size'] == [record['height'], record['width']]
    vis = cv2.imread(str(out_dir / 'vis' / 'shapes_0.png'))
    # 96x128 upscaled by the integer factor 3 to reach 200
    assert vis.shape[:2] == (3 * record['height'], 3 * record['width'])


def test_missing_weights_error_names_the_file(tool, tmp_path, seg_images):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(SystemExit) as exc:
        tool.main([seg_images[0], SEG_DEMO_CONFIG, '--weights', missing])
    assert 'Weights file not found' in str(exc.value)
    assert missing in str(exc.value)


def test_weights_of_another_model_error_names_the_mismatch(
        tool, det_ckpts, seg_images):
    with pytest.raises(SystemExit) as exc:
        tool.main([seg_images[0], SEG_DEMO_CONFIG, '--weights',
                   det_ckpts[0]])
    message = str(exc.value)
    assert det_ckpts[0] in message and 'does not fit config' in message
    assert 'decode_head.' in message  # missing from the file
    assert 'roi_head.' in message  # not in the model


def test_weights_with_other_num_classes_name_the_shapes(seg_ckpts, tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(SEG_DEMO_CONFIG)
    cfg.model.decode_head.num_classes = 7
    with pytest.raises(ValueError, match=r'conv_seg.weight \(file '
                       r'\(5, 64, 1, 1\), model \(7, 64, 1, 1\)\)'):
        ImagePredictor(cfg, seg_ckpts[0])


def test_bad_inputs(tool, seg_ckpts, tmp_path):
    with pytest.raises(SystemExit, match='No such image, folder or glob'):
        tool.main([str(tmp_path / 'missing.jpg'), SEG_DEMO_CONFIG,
                   '--weights', seg_ckpts[0]])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No files found'):
        tool.collect_images(str(tmp_path / 'empty'))
    with pytest.raises(SystemExit, match='neither a config file nor a model'):
        tool.main([str(tmp_path), 'upernet_unireplknet-q', '--weights',
                   seg_ckpts[0]])


def test_class_names_fall_back_to_config_and_ade20k(tmp_path, seg_ckpts):
    import warnings
    state = torch.load(seg_ckpts[0], weights_only=True)['state_dict']
    bare = str(tmp_path / 'bare.pth')
    torch.save(state, bare)  # no meta: names from the config's metainfo
    assert ImagePredictor(SEG_DEMO_CONFIG, bare).classes == SEG_META['classes']
    from mmengine.config import Config
    cfg = Config.fromfile(SEG_DEMO_CONFIG)
    del cfg.test_dataloader.dataset.metainfo
    cfg.test_dataloader.dataset.type = 'ADE20KDataset'
    cfg.model.decode_head.num_classes = 150
    cfg.model.auxiliary_head.num_classes = 150
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        predictor = ImagePredictor(cfg, None)
    assert len(predictor.classes) == 150 and predictor.classes[0] == 'wall'
    assert predictor.dataset_meta['source'] == 'config'
    assert len(predictor.palette) == 150


class _Opaque:
    """A pickled object that weights-only loading refuses."""


def test_unsafe_checkpoint_needs_trust(tool, seg_ckpts, seg_images, tmp_path,
                                       monkeypatch):
    from mmunireplk.checkpoint import TRUST_ENV
    monkeypatch.setenv(TRUST_ENV, '')  # restored after the test
    state = torch.load(seg_ckpts[0], weights_only=True)
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save(dict(state, meta=dict(state['meta'], extra=_Opaque())), unsafe)
    args = [seg_images[0], SEG_DEMO_CONFIG, '--weights', unsafe, '--out-dir',
            str(tmp_path / 'out')]
    with pytest.raises(SystemExit) as exc:
        tool.main(args)
    assert unsafe in str(exc.value) and '--trust-checkpoint' in str(exc.value)
    result = tool.main(args + ['--trust-checkpoint'])
    assert len(result['written']) == 1
