# Copyright (c) mmunireplk contributors. All rights reserved.
"""Installer of the ``mmunireplk`` OpenMMLab plugin package."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
# What OpenMMLab's ``mim`` looks for under ``<package>/.mim``.
MIM_FILES = ('model-index.yml', 'configs', 'tools')


def get_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmunireplk', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def add_mim_extension() -> None:
    """Expose ``model-index.yml``, ``configs`` and ``tools`` under
    ``mmunireplk/.mim`` (where ``mim search`` and ``mim download`` look):
    links for an editable install, copies when a wheel or sdist is built."""
    copy = any(cmd in sys.argv for cmd in ('bdist_wheel', 'sdist'))
    mim_dir = osp.join(ROOT, 'mmunireplk', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(ROOT, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if copy and osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))
        elif copy:
            shutil.copyfile(src, dst)
        else:
            os.symlink(osp.relpath(src, mim_dir), dst)


def read_readme() -> str:
    path = osp.join(osp.dirname(__file__), 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


add_mim_extension()
setup(
    name='mmunireplk',
    version=get_version(),
    description='UniRepLKNet large-kernel ConvNet for the OpenMMLab 2.x stack',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(include=['mmunireplk', 'mmunireplk.*']),
    package_data={
        'mmunireplk': [
            '.mim/model-index.yml', '.mim/configs/*/*.py',
            '.mim/configs/*/*/*.py', '.mim/configs/*/*.yml',
            '.mim/configs/*/*.md', '.mim/tools/*.py', '.mim/tools/*.sh',
            '.mim/tools/*/*.py', '.mim/tools/*/*.sh'
        ]
    },
    python_requires='>=3.8',
    # The heavy, build-sensitive dependencies (torch, mmcv with ops) are
    # installed by ``tools/install.sh``; only light ones are declared here.
    install_requires=['mmengine>=0.10.0,<1.0.0', 'numpy'],
    extras_require={
        'det': ['mmdet>=3.3.0,<3.4.0'],
        'seg': ['mmsegmentation>=1.2.2,<1.3.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.2.0,<1.3.0'],
        'tests': ['pytest', 'pytest-timeout', 'pytest-xdist'],
        'export': ['onnx', 'onnxruntime'],
    },
    zip_safe=False,
)
