# Copyright (c) mmunireplk contributors. All rights reserved.
"""Shared helpers of the test suite."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Sequence

import torch
from torch.nn.modules.batchnorm import _BatchNorm


def randomize_bn_and_scales(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial statistics and affine parameters, and GRN /
    layer-scale parameters non-zero values, so re-parameterisation tests
    exercise every folded term."""
    gen = torch.Generator().manual_seed(seed)

    def rand_like(t, low, high):
        return torch.rand(t.shape, generator=gen) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                module.running_mean.copy_(rand_like(module.running_mean, -.5, .5))
                module.running_var.copy_(rand_like(module.running_var, .5, 2.))
                module.weight.copy_(rand_like(module.weight, .5, 1.5))
                module.bias.copy_(rand_like(module.bias, -.5, .5))
        for name, param in model.named_parameters():
            if name.endswith(('act.1.gamma', 'act.1.beta')) or \
                    name.split('.')[-1] == 'gamma':
                param.copy_(rand_like(param, -.5, .5))


REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(relpath: str) -> ModuleType:
    """Import a script of the repository (e.g. ``'tools/test.py'``) as a
    module, to call its ``main()`` in-process."""
    path = osp.join(REPO, relpath)
    # as when the script runs: its folder is on sys.path for its siblings
    if osp.dirname(path) not in sys.path:
        sys.path.append(osp.dirname(path))
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_tool_module(name: str, folder: str = 'tools') -> ModuleType:
    """Import a module of a tools folder (e.g. ``'launch_utils'``) under its
    own name: the module object the scripts there import, so that
    monkeypatching it reaches them."""
    path = osp.join(REPO, folder)
    if path not in sys.path:
        sys.path.append(path)
    return importlib.import_module(name)


def run_tool(args: Sequence[str],
             timeout: int = 300,
             check: bool = False,
             **env: str) -> subprocess.CompletedProcess:
    """Run a tool of the repository as a user does, in a new process.

    ``args[0]`` is a ``.py`` script (run by this Python) or a command (e.g.
    ``bash``); the working directory is the repository, one thread per
    process (robust when other jobs share the CPU), warnings silenced, the
    trust opt-in of the calling environment removed; ``env`` adds or
    overrides variables.

    Args:
        check (bool): Assert a zero exit status (the output tail is the
            assertion message).
    """
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1',
                    MKL_NUM_THREADS='1')
    full_env['PYTHONPATH'] = REPO + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.pop('MMUNIREPLK_TRUST_CHECKPOINT', None)
    full_env.update(env)
    command = [str(a) for a in args]
    if command[0].endswith('.py'):
        command.insert(0, sys.executable)
    result = subprocess.run(command, cwd=REPO, capture_output=True,
                            text=True, timeout=timeout, env=full_env)
    if check:
        assert result.returncode == 0, (result.stdout[-3000:] +
                                        result.stderr[-3000:])
    return result
