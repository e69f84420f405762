# Copyright (c) mmunireplk contributors. All rights reserved.
"""The model package stands on its own: it imports no other part of the
package but the registry (the checkpoint tools and the deploy-time kernels
import it, not the reverse), imports nothing inside functions, and calls no
private torch entry point."""
import ast
import os.path as osp
from glob import glob

import pytest

from tests.helpers import REPO

MODEL_FILES = sorted(
    glob(osp.join(REPO, 'mmunireplk', 'models', '**', '*.py'),
         recursive=True))


def _absolute(module: str, level: int, path: str) -> str:
    """The absolute name of an import in ``path``."""
    if not level:
        return module
    package = osp.relpath(osp.dirname(path), REPO).split(osp.sep)
    package = package[:len(package) - level + 1]
    return '.'.join(package + ([module] if module else []))


def _imports(tree: ast.AST, path: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node, _absolute(node.module or '', node.level, path)


@pytest.mark.timeout(60)
def test_models_import_only_models_and_the_registry():
    assert len(MODEL_FILES) >= 6
    outside = []
    for path in MODEL_FILES:
        tree = ast.parse(open(path).read())
        for node, name in _imports(tree, path):
            if name.startswith('mmunireplk') and not name.startswith(
                    ('mmunireplk.models', 'mmunireplk.registry')):
                outside.append(f'{osp.relpath(path, REPO)}:{node.lineno} '
                               f'{name}')
    assert not outside


@pytest.mark.timeout(60)
def test_models_import_nothing_inside_functions():
    # numpy's own module moved between numpy 1 and 2: a version switch
    version_switch = ('numpy._core', 'numpy.core')
    inside = []
    for path in MODEL_FILES:
        tree = ast.parse(open(path).read())
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside += [
                    f'{osp.relpath(path, REPO)}:{node.lineno}'
                    for node in ast.walk(func)
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and
                    getattr(node, 'module', None) not in version_switch
                ]
    assert not inside


@pytest.mark.timeout(60)
def test_models_call_no_private_torch_entry_point():
    private = []
    for path in MODEL_FILES:
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Attribute):
                dotted = ast.unparse(node)
                if dotted.startswith(('torch.ops', 'torch._C')):
                    private.append(f'{osp.relpath(path, REPO)}:'
                                   f'{node.lineno} {dotted}')
    assert not private
