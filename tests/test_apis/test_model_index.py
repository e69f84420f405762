# Copyright (c) mmunireplk contributors. All rights reserved.
"""model-index.yml and the metafiles: parse, point at real configs that
build, unique names, published numbers as in the README tables; found in
the package's ``.mim`` folder (as a wheel installs it) before the
checkout."""
import ast
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch

from mmunireplk.apis.model_index import (default_model_index, find_model,
                                         load_model_index)
from .conftest import REPO

MODEL_INDEX = default_model_index()

HF = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main/'
# Public file names (the Hugging Face repo), the metric part as a wildcard.
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


def _mim_files():
    """What ``setup.py`` puts under ``mmunireplk/.mim`` (``MIM_FILES``)."""
    with open(osp.join(REPO, 'setup.py')) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == 'MIM_FILES' for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError('setup.py defines no MIM_FILES')


def _wheel_layout(site: str, with_code: bool = False) -> str:
    """``site/mmunireplk`` laid out as a wheel installs it: ``.mim`` holds
    copies of setup.py's ``MIM_FILES`` (what it copies there when a wheel
    is built), and with ``with_code`` the package's modules. Returns the
    package folder."""
    package = osp.join(site, 'mmunireplk')
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim')
    for name in _mim_files():
        source, target = osp.join(REPO, name), osp.join(package, '.mim', name)
        if osp.isdir(source):
            shutil.copytree(source, target, ignore=ignore)
        else:
            os.makedirs(osp.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
    if with_code:
        shutil.copytree(osp.join(REPO, 'mmunireplk'), package, ignore=ignore,
                        dirs_exist_ok=True)
    return package


@pytest.mark.timeout(300)
def test_index_and_configs_from_a_wheel_layout(tmp_path):
    """A wheel's package finds its own index and the configs listed there;
    one config of each task loads with the files it inherits from."""
    from mmengine.config import Config
    package = _wheel_layout(str(tmp_path / 'site'))
    index = default_model_index(package)
    assert index == osp.join(package, '.mim', 'model-index.yml')
    models = load_model_index(index)
    assert len(models) == len(load_model_index(MODEL_INDEX)) > 0
    configs = osp.join(package, '.mim', 'configs', '')
    for m in models:
        assert m['config'].startswith(configs) and osp.isfile(m['config'])
    for prefix in ('cascade-mask-rcnn_', 'upernet_', 'unireplknet-'):
        m = next(m for m in models if m['name'].startswith(prefix))
        cfg = Config.fromfile(m['config'], import_custom_modules=False)
        assert cfg.model.backbone.type == 'mmunireplk.UniRepLKNet', m['name']
        assert find_model(m['name'], index)['config'] == m['config']


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_installed_package_resolves_model_names_outside_the_checkout(
        tmp_path):
    """Imported from a wheel layout in another folder (no checkout around
    it), the package resolves a model name to the config it ships."""
    package = _wheel_layout(str(tmp_path / 'site'), with_code=True)
    name = 'upernet_unireplknet-t_8xb2-160k_ade20k-512x512'
    code = ('import json, mmunireplk; from mmunireplk.apis import '
            f'find_model; print(json.dumps([mmunireplk.__file__, '
            f'find_model({name!r})["config"]]))')
    env = dict(os.environ, PYTHONPATH=str(tmp_path / 'site'))
    out = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    module_file, config = json.loads(out.stdout.strip().splitlines()[-1])
    assert module_file == osp.join(package, '__init__.py')
    assert config == osp.join(package, '.mim', 'configs', 'unireplknet',
                              name + '.py')
    assert osp.isfile(config)


@pytest.mark.timeout(60)
def test_index_falls_back_to_the_checkout(tmp_path):
    """Without ``.mim`` (a checkout on sys.path, not installed) the index
    next to the package is used; with neither the error names both."""
    checkout = tmp_path / 'checkout'
    (checkout / 'mmunireplk').mkdir(parents=True)
    shutil.copyfile(osp.join(REPO, 'model-index.yml'),
                    checkout / 'model-index.yml')
    assert default_model_index(str(checkout / 'mmunireplk')) == str(
        checkout / 'model-index.yml')
    (tmp_path / 'bare' / 'mmunireplk').mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as error:
        default_model_index(str(tmp_path / 'bare' / 'mmunireplk'))
    assert osp.join('bare', 'mmunireplk', '.mim', 'model-index.yml') in str(
        error.value)
    assert osp.join('bare', 'model-index.yml') in str(error.value)
