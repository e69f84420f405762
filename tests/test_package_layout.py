# Copyright (c) mmunireplk contributors. All rights reserved.
"""The package's shape: imports run one way (no cycles, no imports of our
own modules inside functions), it never imports ``tools/``, and importing
it registers modules and changes nothing else in the process."""
import ast
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

from tests.helpers import REPO

PACKAGE = osp.join(REPO, 'mmunireplk')

pytestmark = pytest.mark.timeout(120)


def package_modules() -> Dict[str, str]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for folder, _, files in os.walk(PACKAGE):
        if '.mim' in folder.split(os.sep):
            continue
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                dotted = osp.relpath(path, REPO)[:-3].replace(os.sep, '.')
                modules[dotted.rsplit('.__init__', 1)[0]] = path
    return modules


def imported_modules(module: str, path: str, node: ast.AST,
                     modules: Dict[str, str]) -> List[str]:
    """The package modules an import statement loads."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            parts = module.split('.')
            if not path.endswith('__init__.py'):
                parts = parts[:-1]
            parts = parts[:len(parts) - node.level + 1]
            base = '.'.join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ''
        names = [base] + [f'{base}.{alias.name}' for alias in node.names]
    else:
        names = [alias.name for alias in node.names]
    return [name for name in names if name in modules]


def import_graph() -> Tuple[Dict[str, Set[str]], List[str], List[str]]:
    """Edges between package modules, imports of package modules inside
    functions, and imports of ``tools``."""
    modules = package_modules()
    edges: Dict[str, Set[str]] = {m: set() for m in modules}
    inner, tools = [], []
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[module].update(
                    imported_modules(module, path, node, modules))
                names = [a.name for a in node.names] if isinstance(
                    node, ast.Import) else [node.module or '']
                tools += [f'{module}: {n}' for n in names
                          if n.split('.')[0] == 'tools']
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and \
                            imported_modules(module, path, node, modules):
                        inner.append(f'{module}.{func.name}')
    return edges, inner, tools


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_imports_run_one_way():
    edges, inner, tools = import_graph()
    # a package imports its own submodules; a cycle through an __init__
    # back into the same package is still a cycle of modules
    assert cycles(edges) == []
    assert inner == [], 'imports of package modules inside functions'
    assert tools == [], 'the package must not import tools/'


def test_subpackages_import_one_way():
    """E.g. checkpoint may import models, then models never imports
    checkpoint, not even through a third subpackage."""
    edges, _, _ = import_graph()
    groups: Dict[str, Set[str]] = {}
    for module, targets in edges.items():
        if module.count('.') == 0:  # the package's __init__ imports all
            continue
        source = '.'.join(module.split('.')[:2])
        groups.setdefault(source, set())
        for target in targets:
            group = '.'.join(target.split('.')[:2])
            if group != source and target.count('.') > 0:
                groups[source].add(group)
                groups.setdefault(group, set())
    assert cycles(groups) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [
        ['a', 'b', 'c']
    ]


def test_import_registers_and_changes_nothing_else():
    code = '\n'.join([
        'import sys',
        'import torch',
        'from mmengine.runner.checkpoint import CheckpointLoader',
        'before = dict(CheckpointLoader._schemes)',
        'import mmunireplk',
        'assert dict(CheckpointLoader._schemes) == before, "loaders changed"',
        'from mmunireplk.registry import MODELS, HOOKS',
        'assert MODELS.get("UniRepLKNet") is not None',
        'assert HOOKS.get("SafeCheckpointHook") is not None',
        'ops = [n for n in torch._C._dispatch_get_all_op_names()',
        '       if n.startswith("mmunireplk::")]',
        'assert not ops, ops',
        'heavy = {"mmdet", "mmseg", "mmpretrain"} & set(sys.modules)',
        'assert not heavy, heavy',
        'print("ok")',
    ])
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                            capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'ok'
