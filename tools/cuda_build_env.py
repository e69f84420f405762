# Copyright (c) mmunireplk contributors. All rights reserved.
"""Build environment of mmcv's CUDA ops (used by ``tools/install.sh``).

Standalone (imports only torch and the standard library), so that
``install.sh`` can run it before anything else of this package is installed.

    python tools/cuda_build_env.py packages
        the pinned PyPI nvcc packages to install, one per line; nothing when
        a complete system CUDA toolkit of torch's CUDA major version is found
    python tools/cuda_build_env.py exports [--cuda-home-dir DIR]
        ``export NAME=VALUE`` lines for the build: CUDA_HOME, PATH,
        TORCH_CUDA_ARCH_LIST, FORCE_CUDA=1; with the PyPI nvcc, DIR receives
        a symlink tree that merges every ``nvidia/cu<major>`` folder on
        ``sys.path`` (nvcc, headers, libcudart) and adds the unversioned
        ``libcudart.so`` and ``lib64`` links the linker needs
    python tools/cuda_build_env.py tag
        the wheel-cache tag suffix of a CUDA build (``cuda13.0-arch9.0``)

``TORCH_CUDA_ARCH_LIST``: kept when set; else the compute capabilities of
the visible GPUs (``9.0`` for an H100/H200); else :data:`DEFAULT_ARCH_LIST`.
``MMUNIREPLK_CUDA_FROM_PIP=1`` ignores a system toolkit.
"""
import argparse
import glob
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

#: PyPI packages that give a working nvcc for a torch CUDA version. They must
#: all match: an unpinned nvidia-nvvm 13.5 with nvcc 13.0 fails in ptxas
#: ("Unsupported .version 9.5"). Verified: 13.0 (see ENVIRONMENT.md).
PINNED_NVCC_PACKAGES: Dict[str, Dict[str, str]] = {
    '13.0': {
        'nvidia-cuda-nvcc': '13.0.88',
        'nvidia-cuda-crt': '13.0.88',
        'nvidia-nvvm': '13.0.88',
        'nvidia-cuda-cccl': '13.0.85',
    },
}

#: Arch list when no GPU is visible (FORCE_CUDA builds on a CPU machine): the
#: H100/H200 (sm_90) machines this project is checked on. Set
#: TORCH_CUDA_ARCH_LIST for other GPUs (e.g. '8.0;8.6;9.0').
DEFAULT_ARCH_LIST = '9.0'


def torch_cuda_version() -> Optional[str]:
    import torch
    return torch.version.cuda


def pinned_packages(cuda_version: Optional[str]) -> List[str]:
    """``name==version`` pins of the PyPI nvcc for ``torch.version.cuda``.

    Raises:
        ValueError: For a CPU-only torch or a CUDA version without pins.
    """
    if not cuda_version:
        raise ValueError('this torch is a CPU-only build (torch.version.cuda '
                         'is None): install a CUDA build of torch to build '
                         "mmcv's CUDA ops")
    major_minor = '.'.join(cuda_version.split('.')[:2])
    if major_minor not in PINNED_NVCC_PACKAGES:
        raise ValueError(
            f'no pinned PyPI nvcc packages for CUDA {cuda_version} (known: '
            f'{sorted(PINNED_NVCC_PACKAGES)}); install the CUDA '
            f'{major_minor} toolkit and set CUDA_HOME, or add the versions '
            'to PINNED_NVCC_PACKAGES in tools/cuda_build_env.py')
    return [f'{name}=={version}' for name, version in
            PINNED_NVCC_PACKAGES[major_minor].items()]


def arch_list(env: Optional[Dict[str, str]] = None,
              capabilities: Optional[Sequence[Sequence[int]]] = None) -> str:
    """TORCH_CUDA_ARCH_LIST: the environment's, else the visible GPUs'
    compute capabilities (``capabilities``: (major, minor) per GPU, queried
    from torch when None), else :data:`DEFAULT_ARCH_LIST`."""
    env = os.environ if env is None else env
    if env.get('TORCH_CUDA_ARCH_LIST'):
        return env['TORCH_CUDA_ARCH_LIST']
    if capabilities is None:
        import torch
        capabilities = [
            torch.cuda.get_device_capability(i)
            for i in range(torch.cuda.device_count())
        ] if torch.cuda.is_available() else []
    archs = sorted({tuple(c) for c in capabilities})
    if not archs:
        return DEFAULT_ARCH_LIST
    return ';'.join(f'{major}.{minor}' for major, minor in archs)


def wheel_tag(cuda_version: str, archs: str) -> str:
    """Cache-tag suffix of a CUDA build: the CUDA version and the arch list
    (a wheel built for sm_90 does not run on an sm_80 GPU)."""
    safe = re.sub(r'[^0-9A-Za-z.]+', '_', archs.replace('+PTX', 'ptx'))
    return f'cuda{cuda_version}-arch{safe}'


def nvcc_release(nvcc: str) -> Optional[str]:
    """``'13.0'`` from ``nvcc --version``; None if it does not run."""
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'release (\d+\.\d+)', out)
    return match.group(1) if match else None


def toolkit_problems(home: str, cuda_version: str) -> List[str]:
    """Why ``home`` cannot serve as CUDA_HOME for ``cuda_version`` (empty:
    it can): nvcc, cuda_runtime.h and libcudart.so are needed, and nvcc's
    major version must be torch's (torch refuses another major)."""
    problems = []
    nvcc = osp.join(home, 'bin', 'nvcc')
    if not os.access(nvcc, os.X_OK):
        return [f'no {nvcc}']
    if not osp.isfile(osp.join(home, 'include', 'cuda_runtime.h')):
        problems.append(f'no {home}/include/cuda_runtime.h')
    if not any(
            glob.glob(osp.join(home, lib, 'libcudart.so'))
            for lib in ('lib64', 'lib')):
        problems.append(f'no libcudart.so in {home}/lib64 or lib')
    release = nvcc_release(nvcc)
    if release is None:
        problems.append(f'{nvcc} --version does not run')
    elif release.split('.')[0] != cuda_version.split('.')[0]:
        problems.append(f'nvcc {release}, torch needs CUDA {cuda_version}')
    return problems


def find_system_toolkit(cuda_version: str,
                        env: Optional[Dict[str, str]] = None
                        ) -> Optional[str]:
    """A complete CUDA toolkit of torch's major version: CUDA_HOME,
    CUDA_PATH, the folder above ``nvcc`` on PATH, /usr/local/cuda."""
    env = os.environ if env is None else env
    if env.get('MMUNIREPLK_CUDA_FROM_PIP') == '1':
        return None
    candidates = [env.get('CUDA_HOME'), env.get('CUDA_PATH')]
    nvcc = shutil.which('nvcc', path=env.get('PATH'))
    if nvcc:
        candidates.append(osp.dirname(osp.dirname(osp.realpath(nvcc))))
    candidates.append('/usr/local/cuda')
    for home in candidates:
        if home and osp.isdir(home) and not toolkit_problems(
                home, cuda_version):
            return home
    return None


def pip_cuda_roots(cuda_version: str,
                   paths: Optional[Sequence[str]] = None) -> List[str]:
    """Every ``nvidia/cu<major>`` folder on ``paths`` (``sys.path``), in
    order: torch's runtime and the nvcc packages may lie in different
    site-packages (e.g. a venv with system site packages)."""
    major = cuda_version.split('.')[0]
    roots = []
    for entry in sys.path if paths is None else paths:
        root = osp.join(entry or '.', 'nvidia', f'cu{major}')
        if osp.isdir(root) and osp.realpath(root) not in map(
                osp.realpath, roots):
            roots.append(root)
    return roots


def merge_tree(roots: Sequence[str], dest: str) -> str:
    """Symlink every file of ``roots`` into ``dest`` (folders are real;
    the first root wins), add ``lib/libcudart.so`` and ``lib64 -> lib``.

    Returns:
        str: ``dest``, to use as CUDA_HOME.
    """
    if osp.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for root in roots:
        for folder, _, files in os.walk(root):
            rel = osp.relpath(folder, root)
            out = osp.normpath(osp.join(dest, rel))
            os.makedirs(out, exist_ok=True)
            for name in files:
                link = osp.join(out, name)
                if not osp.lexists(link):
                    os.symlink(osp.join(osp.abspath(folder), name), link)
    lib = osp.join(dest, 'lib')
    versioned = sorted(glob.glob(osp.join(lib, 'libcudart.so.*')))
    if versioned and not osp.lexists(osp.join(lib, 'libcudart.so')):
        os.symlink(osp.basename(versioned[0]), osp.join(lib, 'libcudart.so'))
    if osp.isdir(lib) and not osp.lexists(osp.join(dest, 'lib64')):
        os.symlink('lib', osp.join(dest, 'lib64'))
    return dest


def build_exports(cuda_home_dir: str,
                  env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment of the mmcv CUDA build (see the module docstring).

    Raises:
        RuntimeError: If no usable toolkit can be found or assembled.
    """
    env = dict(os.environ if env is None else env)
    cuda_version = torch_cuda_version()
    pinned_packages(cuda_version)  # CPU-only torch: clear error
    home = find_system_toolkit(cuda_version, env)
    if home is None:
        roots = pip_cuda_roots(cuda_version)
        if not roots:
            raise RuntimeError(
                'no CUDA toolkit and no nvidia/cu* folder on sys.path: '
                'install ' + ' '.join(pinned_packages(cuda_version)))
        home = merge_tree(roots, cuda_home_dir)
        problems = toolkit_problems(home, cuda_version)
        if problems:
            raise RuntimeError('the PyPI CUDA toolkit is incomplete: ' +
                               '; '.join(problems) + ' (install ' +
                               ' '.join(pinned_packages(cuda_version)) + ')')
    return dict(
        CUDA_HOME=home,
        PATH=osp.join(home, 'bin') + os.pathsep + env.get('PATH', ''),
        TORCH_CUDA_ARCH_LIST=arch_list(env),
        FORCE_CUDA='1')


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('command', choices=('packages', 'exports', 'tag'))
    parser.add_argument(
        '--cuda-home-dir',
        default=osp.expanduser('~/.cache/mmunireplk/cuda-home'),
        help='where the PyPI toolkit is assembled (exports)')
    args = parser.parse_args(argv)
    try:
        cuda_version = torch_cuda_version()
        if args.command == 'packages':
            pins = pinned_packages(cuda_version)
            if find_system_toolkit(cuda_version) is None:
                print('\n'.join(pins))
        elif args.command == 'tag':
            pinned_packages(cuda_version)
            print(wheel_tag(cuda_version, arch_list()))
        else:
            for name, value in build_exports(args.cuda_home_dir).items():
                print(f'export {name}={shlex.quote(value)}')
    except (ValueError, RuntimeError) as err:
        print(f'cuda_build_env: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
