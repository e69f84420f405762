# Copyright (c) mmunireplk contributors. All rights reserved.
"""Installer of the ``mmunireplk`` OpenMMLab plugin package."""
import os.path as osp

from setuptools import find_packages, setup


def get_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmunireplk', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def read_readme() -> str:
    path = osp.join(osp.dirname(__file__), 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


setup(
    name='mmunireplk',
    version=get_version(),
    description='UniRepLKNet large-kernel ConvNet for the OpenMMLab 2.x stack',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(include=['mmunireplk', 'mmunireplk.*']),
    python_requires='>=3.8',
    # The heavy, build-sensitive dependencies (torch, mmcv with ops) are
    # installed by ``tools/install.sh``; only light ones are declared here.
    install_requires=['mmengine>=0.10.0,<1.0.0', 'numpy'],
    extras_require={
        'det': ['mmdet>=3.3.0,<3.4.0'],
        'seg': ['mmsegmentation>=1.2.2,<1.3.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.2.0,<1.3.0'],
        'tests': ['pytest', 'pytest-timeout'],
        'export': ['onnx', 'onnxruntime'],
    },
    zip_safe=False,
)
