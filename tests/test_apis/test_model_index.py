# Copyright (c) mmunireplk contributors. All rights reserved.
"""model-index.yml and the metafiles: parse, point at real configs that
build, unique names, published numbers as in the README tables."""
import glob
import os.path as osp
import re

import pytest
import torch

from mmunireplk.apis.model_index import MODEL_INDEX, find_model, \
    load_model_index
from .conftest import REPO

HF = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
# Public file names (RECIPES.md), the metric part as a wildcard.
WEIGHT_PATTERNS = [
    r'casc_mask_rcnn_unireplknet_(t_in1k|s_in1k|s_in22k|b_in22k|l_in22k|'
    r'xl_in22k)_3x_coco_ap[\d.]+\.pth',
    r'upernet_unireplknet_(t_512|s_512|s_in22k_512|s_in22k_640|b_in22k_640|'
    r'l_in22k_640|xl_in22k_640)_160k_ade20k_miou[\d.]+\.pth',
    r'unireplknet_[a-z]+_in(1k|22k)[\w.]*\.pth',
]


@pytest.fixture(scope='module')
def models():
    return load_model_index()


def test_index_parses_with_modelindex():
    from modelindex.load_model_index import load
    index = load(MODEL_INDEX)
    names = [m.name for m in index.models]
    assert len(names) == len(set(names)) >= 13
    for m in index.models:
        assert m.config and m.in_collection == 'UniRepLKNet', m.name
    published = [m for m in index.models if m.results]
    assert len(published) >= 13
    for m in published:
        for result in m.results:
            assert result.task and result.dataset and result.metrics


def test_every_config_is_listed_once(models):
    names = [m['name'] for m in models]
    assert len(names) == len(set(names))
    configs = sorted(osp.relpath(m['config'], REPO) for m in models)
    on_disk = sorted(
        osp.relpath(p, REPO)
        for p in glob.glob(osp.join(REPO, 'configs', 'unireplknet', '*.py')))
    assert configs == on_disk
    for m in models:
        assert osp.isfile(m['config'])
        assert osp.splitext(osp.basename(m['config']))[0] == m['name']


def _readme_rows():
    """Published metrics of the README tables, by config name."""
    with open(osp.join(REPO, 'README.md')) as f:
        text = f.read()
    rows = {}
    for name, numbers in re.findall(
            r'^\| `([\w.-]+)\.py` \|(?: IN-\w+ \|)? ([\d.]+ / [\d.]+) \|',
            text, re.M):
        rows[name] = [float(v) for v in numbers.split(' / ')]
    return rows


def test_metrics_match_the_readme(models):
    rows = _readme_rows()
    assert len(rows) >= 13
    for m in models:
        if m['name'] not in rows:
            continue
        metrics = {}
        for result in m['results']:
            metrics.update(result['Metrics'])
        if m['name'].startswith('cascade'):
            got = [metrics['box AP'], metrics['mask AP']]
        else:
            got = [metrics['mIoU'], metrics['mIoU(ms+flip)']]
        assert got == rows[m['name']], m['name']


def _project_text():
    text = ''
    for path in [osp.join(REPO, 'README.md')] + glob.glob(
            osp.join(REPO, 'docs', '*.md')):
        with open(path) as f:
            text += f.read()
    return text


def test_weights_urls_are_public_file_names(models):
    docs = _project_text()
    for m in models:
        urls = [m['weights'], m['metadata'].get('Pretrained Backbone')]
        for url in filter(None, urls):
            assert url.startswith(HF), url
            name = url[len(HF):]
            assert any(re.fullmatch(p, name) for p in WEIGHT_PATTERNS), name
        if m['weights']:
            # the full file name is stated by the config or the docs
            name = m['weights'][len(HF):]
            with open(m['config']) as f:
                assert name in f.read() or name in docs, name
        if m['results']:
            assert m['metadata']['Parameters'] > 1e6, m['name']
            assert m['metadata']['FLOPs'] > 1e8, m['name']


def test_find_model(models):
    m = find_model('upernet_unireplknet-t_8xb2-160k_ade20k-512x512')
    assert m['weights'].endswith('upernet_unireplknet_t_512_160k_ade20k_'
                                 'miou48.6.pth')
    assert find_model(m['config'])['name'] == m['name']
    with pytest.raises(ValueError, match='did you mean'):
        find_model('upernet_unireplknet-t_8xb2-160k_ade20k')


def _build_on_meta(config):
    """Build the model of a config without allocating its weights."""
    from mmengine.registry import DefaultScope

    from mmunireplk.apis import get_task, load_config
    from mmunireplk.apis.inference import SCOPE_OF_TASK
    cfg = load_config(config)
    scope = SCOPE_OF_TASK[get_task(cfg)]
    registry = {
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry',
        'mmpretrain': 'mmpretrain.registry'
    }[scope]
    import importlib
    models = importlib.import_module(registry).MODELS
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        return models.build(cfg.model)


@pytest.mark.parametrize(
    'entry', load_model_index(), ids=lambda m: m['name'])
def test_every_listed_config_builds(entry):
    model = _build_on_meta(entry['config'])
    params = sum(p.numel() for p in model.parameters())
    assert params > 1e6
    if entry['results'] and 'in21k' not in entry['name']:
        published = entry['metadata']['Parameters']
        # training form (with the auxiliary head for UPerNet): within 12%
        # of the published (deploy, no auxiliary head) count
        assert abs(params - published) / published < 0.12, params


def test_installed_package_exposes_the_index_for_mim():
    """setup.py puts model-index.yml, configs and tools under
    mmunireplk/.mim, where ``mim search`` looks (links for the editable
    install of tools/install.sh, copies in a wheel)."""
    import mmunireplk
    from modelindex.load_model_index import load
    mim_dir = osp.join(osp.dirname(mmunireplk.__file__), '.mim')
    index = load(osp.join(mim_dir, 'model-index.yml'))
    assert len(index.models) == len(load(MODEL_INDEX).models) > 0
    for model in index.models:
        assert osp.isfile(osp.join(mim_dir, model.config)), model.config
    assert osp.isfile(osp.join(mim_dir, 'tools', 'image_demo.py'))
