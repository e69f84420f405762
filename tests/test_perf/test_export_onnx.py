# Copyright (c) mmunireplk contributors. All rights reserved.
"""ONNX export of the deploy-form backbone and a whole UPerNet segmentor."""
import onnx  # noqa: F401  (installed by tools/install.sh)
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODELS, init_default_scope

from tests.helpers import randomize_bn_and_scales
from tests.test_perf.utils import argv, load_tool, rel_err, tiny_upernet_config

export_onnx = load_tool('tools/deployment/export_onnx.py')


@pytest.mark.parametrize('size,in_hw', [(1, (7, 9)), (3, (13, 8)),
                                        ((2, 3), (12, 12)), (6, (6, 13))])
@pytest.mark.timeout(60)
def test_shape_agnostic_adaptive_pool(size, in_hw):
    x = torch.randn(2, 3, *in_hw)
    expected = nn.AdaptiveAvgPool2d(size)(x)
    got = export_onnx.ShapeAgnosticAdaptiveAvgPool2d(size)(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)


@pytest.fixture(scope='module')
def trained_segmentor(tmp_path_factory):
    """A training-form UPerNet with non-trivial BN / GRN / layer-scale
    values, its config file and its checkpoint."""
    tmp = tmp_path_factory.mktemp('onnx')
    cfg = tiny_upernet_config()
    cfg_path = str(tmp / 'upernet_atto.py')
    cfg.dump(cfg_path)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    randomize_bn_and_scales(model)
    model.eval()
    ckpt = str(tmp / 'upernet_atto.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return model, cfg_path, ckpt, tmp


def _run_onnx(path, x):
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in session.run(None, {'img': x.numpy()})]


@pytest.mark.timeout(600)
def test_export_segmentor_dynamic_hw(trained_segmentor, capsys):
    model, cfg_path, ckpt, tmp = trained_segmentor
    out = str(tmp / 'segmentor.onnx')
    with argv([cfg_path, ckpt, '--out', out, '--shape', 64, 96,
               '--verify-shape', 96, 64]):
        export_onnx.main()
    assert 'verification passed' in capsys.readouterr().out
    # A third size, against mmseg's own whole-image inference of the
    # training-form model (decode head + resize to the input size).
    for h, w in [(80, 112), (64, 64)]:
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            expected = model.encode_decode(x, [dict(img_shape=(h, w))])
        (got, ) = _run_onnx(out, x)
        assert got.shape == expected.shape == (1, 5, h, w)
        assert rel_err(got, expected) <= 1e-4


@pytest.mark.timeout(300)
def test_export_backbone(trained_segmentor):
    model, cfg_path, ckpt, tmp = trained_segmentor
    out = str(tmp / 'backbone.onnx')
    with argv([cfg_path, ckpt, '--target', 'backbone', '--out', out,
               '--shape', 64, 64, '--verify-shape', 96, 128]):
        export_onnx.main()
    x = torch.randn(2, 3, 96, 80)  # another batch size and size
    with torch.no_grad():
        expected = model.backbone(x)
    got = _run_onnx(out, x)
    assert len(got) == len(expected) == 4
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert rel_err(a, b) <= 1e-4


@pytest.mark.timeout(300)
def test_export_rejects_wrong_target(trained_segmentor):
    _, cfg_path, ckpt, tmp = trained_segmentor
    with argv([cfg_path, ckpt, '--target', 'features', '--out',
               str(tmp / 'x.onnx')]), pytest.raises(ValueError, match='neck'):
        export_onnx.main()
