# Copyright (c) mmunireplk contributors. All rights reserved.
"""Build environment of mmcv's CUDA ops (used by ``tools/install.sh``).

Standalone (imports only the standard library, and torch where a command
needs it), so that ``install.sh`` can run it before anything else of this
package is installed.

    python tools/cuda_build_env.py packages [--cuda-version V]
        the pinned PyPI nvcc packages to install, one per line; nothing when
        a complete system CUDA toolkit of torch's CUDA major version is found
        (any minor version: torch refuses only another major)
    python tools/cuda_build_env.py exports [--cuda-home-dir DIR]
        ``export NAME=VALUE`` lines for the build: CUDA_HOME, PATH,
        TORCH_CUDA_ARCH_LIST, FORCE_CUDA=1; with the PyPI nvcc, DIR receives
        a symlink tree that merges every ``nvidia/cu<major>`` folder on
        ``sys.path`` (nvcc, headers, libcudart) and adds the unversioned
        ``libcudart.so`` and ``lib64`` links the linker needs
    python tools/cuda_build_env.py tag
        the wheel-cache tag suffix of a CUDA build (``cuda13.0-arch9.0``)
    python tools/cuda_build_env.py jobs [--meminfo FILE] [--nproc N]
        the number of parallel compile jobs: MAX_JOBS when set, else
        min(CPUs, available memory / 2 GiB, 16)
    python tools/cuda_build_env.py driver-version
        the NVIDIA driver version that ``nvidia-smi`` reports; nothing where
        it is missing or fails (a CPU machine or a login node)
    python tools/cuda_build_env.py check-driver [--cuda-version V]
        on a GPU node: fails with the fix when this torch cannot use the
        GPUs (driver too old for torch's CUDA, no GPU visible to it)

``TORCH_CUDA_ARCH_LIST``: kept when set; else the compute capabilities of
the visible GPUs; with no GPU visible (``FORCE_CUDA=1`` on a login node) it
must be set. ``MMUNIREPLK_CUDA_FROM_PIP=1`` ignores a system toolkit.
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
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

#: PyPI packages that give a working nvcc for a torch CUDA version. They must
#: all match: an unpinned nvidia-nvvm 13.5 with nvcc 13.0 fails in ptxas
#: ("Unsupported .version 9.5"). The versions are those of NVIDIA's
#: ``cuda-toolkit`` meta package of the last update of each release (13.0.2,
#: 13.1.2.0, 13.2.2); every wheel puts nvcc, cicc and the headers into
#: ``nvidia/cu13``. Build-tested: 13.0 (all of mmcv 2.1.0); 13.1 and 13.2:
#: wheels inspected only. CUDA 12 has none: ``nvidia-cuda-nvcc-cu12``
#: (12.0 to 12.9) ships ptxas and libnvvm but no nvcc, so a CUDA 12 torch
#: needs a system toolkit.
PINNED_NVCC_PACKAGES: Dict[str, Dict[str, str]] = {
    '13.0': {
        'nvidia-cuda-nvcc': '13.0.88',
        'nvidia-cuda-crt': '13.0.88',
        'nvidia-nvvm': '13.0.88',
        'nvidia-cuda-cccl': '13.0.85',
    },
    '13.1': {
        'nvidia-cuda-nvcc': '13.1.115',
        'nvidia-cuda-crt': '13.1.115',
        'nvidia-nvvm': '13.1.115',
        'nvidia-cuda-cccl': '13.1.115',
    },
    '13.2': {
        'nvidia-cuda-nvcc': '13.2.86',
        'nvidia-cuda-crt': '13.2.86',
        'nvidia-nvvm': '13.2.86',
        'nvidia-cuda-cccl': '13.2.86',
    },
}

#: CUDA majors whose PyPI nvcc package has no nvcc binary.
NO_PYPI_NVCC = {'11': 'nvidia-cuda-nvcc-cu11', '12': 'nvidia-cuda-nvcc-cu12'}

#: Headers a toolkit must have: torch's ATen/cuda headers, which mmcv's ops
#: include, need the cuBLAS, cuSPARSE and cuSOLVER ones.
REQUIRED_HEADERS = ('cuda_runtime.h', 'cublas_v2.h', 'cusparse.h',
                    'cusolverDn.h')

#: Oldest Linux NVIDIA driver that runs a build of CUDA <major>.x: NVIDIA's
#: "CUDA minor version compatibility" minimum (a newer minor runs on it,
#: without PTX JIT of PTX newer than the driver). The drivers of the
#: releases themselves are newer (e.g. 12.4: 550.54.14, 12.6: 560.28.03,
#: 12.8: 570.26, 13.0: 580.65.06).
MIN_DRIVER: Dict[str, str] = {'11': '450.80.02', '12': '525.60.13',
                              '13': '580'}

#: The PyTorch wheel index to suggest for an older driver, newest first:
#: (oldest driver it needs, index URL).
TORCH_INDEXES: Sequence[Tuple[str, str]] = (
    (MIN_DRIVER['13'], 'https://download.pytorch.org/whl/cu130'),
    (MIN_DRIVER['12'], 'https://download.pytorch.org/whl/cu126'),
)

#: Where a system toolkit is looked for last.
DEFAULT_CUDA_HOME = '/usr/local/cuda'

#: Memory one nvcc job of the mmcv build may take, and the most jobs run by
#: default (more rarely pays off on a ~140-file build, and each job costs
#: memory).
JOB_MEMORY = 2 << 30
MAX_DEFAULT_JOBS = 16


def torch_cuda_version() -> Optional[str]:
    """``torch.version.cuda`` (None for a CPU-only torch)."""
    import torch  # only here: most commands run before torch may exist
    return torch.version.cuda


def major_minor(version: str) -> str:
    """``'12.6'`` from ``'12.6'``, ``'12.6.3'`` or ``'12.6.85'``."""
    return '.'.join(version.split('.')[:2])


def require_cuda_torch(cuda_version: Optional[str]) -> str:
    """``cuda_version``, checked to be that of a CUDA build of torch.

    Raises:
        ValueError: For a CPU-only torch (``torch.version.cuda`` is None).
    """
    if not cuda_version:
        raise ValueError('this torch is a CPU-only build (torch.version.cuda '
                         'is None): install a CUDA build of torch to build '
                         "mmcv's CUDA ops")
    return cuda_version


def pinned_packages(cuda_version: Optional[str]) -> List[str]:
    """``name==version`` pins of the PyPI nvcc for ``torch.version.cuda``,
    needed only when no system toolkit is found.

    Raises:
        ValueError: For a CPU-only torch, or a CUDA version without pins (the
            message names both fixes: a system toolkit, or another torch).
    """
    cuda_version = require_cuda_torch(cuda_version)
    version = major_minor(cuda_version)
    if version in PINNED_NVCC_PACKAGES:
        return [f'{name}=={pin}' for name, pin in
                PINNED_NVCC_PACKAGES[version].items()]
    major = version.split('.')[0]
    why = (f'{NO_PYPI_NVCC[major]} holds no nvcc binary'
           if major in NO_PYPI_NVCC else
           f'no pinned PyPI nvcc packages for CUDA {version} in '
           'PINNED_NVCC_PACKAGES of tools/cuda_build_env.py')
    raise ValueError(
        f'no CUDA {major}.x toolkit found for torch built with CUDA '
        f'{cuda_version}, and PyPI cannot give one ({why}). Either install '
        f'a CUDA {major}.x toolkit ({version} matches torch exactly; any '
        f'{major}.x works) and set CUDA_HOME to it (e.g. `module load '
        f'cuda/{version}`, or CUDA_HOME=/usr/local/cuda-{version}), or '
        'install a torch built with a CUDA that has PyPI nvcc packages '
        f'({", ".join(sorted(PINNED_NVCC_PACKAGES))}; e.g. '
        'TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130 bash '
        'tools/install.sh, which needs NVIDIA driver >= '
        f'{MIN_DRIVER["13"]})')


def arch_list(env: Optional[Dict[str, str]] = None,
              capabilities: Optional[Sequence[Sequence[int]]] = None) -> str:
    """TORCH_CUDA_ARCH_LIST: the environment's, else the visible GPUs'
    compute capabilities (``capabilities``: (major, minor) per GPU, queried
    from torch when None).

    Raises:
        ValueError: If it is not set and no GPU is visible (a build on a
            login node must name the GPUs it is for).
    """
    env = os.environ if env is None else env
    if env.get('TORCH_CUDA_ARCH_LIST', '').strip():
        return env['TORCH_CUDA_ARCH_LIST']
    if capabilities is None:
        import torch  # only here: the other commands must run without it
        capabilities = [
            torch.cuda.get_device_capability(i)
            for i in range(torch.cuda.device_count())
        ] if torch.cuda.is_available() else []
    archs = sorted({tuple(c) for c in capabilities})
    if not archs:
        raise ValueError(
            'no GPU is visible (torch.cuda.is_available() is False) and '
            'TORCH_CUDA_ARCH_LIST is not set, so it is unknown which GPUs to '
            'build the CUDA ops for: set it to their compute capabilities '
            "(e.g. TORCH_CUDA_ARCH_LIST='8.0;9.0' for A100 and H100), or "
            'run the install on a GPU node')
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
    it can): nvcc, the :data:`REQUIRED_HEADERS` and libcudart.so are needed,
    and nvcc's major version must be torch's (torch refuses another major,
    and accepts another minor with a warning)."""
    problems = []
    nvcc = osp.join(home, 'bin', 'nvcc')
    if not os.access(nvcc, os.X_OK):
        return [f'no {nvcc}']
    for header in REQUIRED_HEADERS:
        if not osp.isfile(osp.join(home, 'include', header)):
            problems.append(f'no {home}/include/{header}')
    if not any(
            glob.glob(osp.join(home, lib, 'libcudart.so'))
            for lib in ('lib64', 'lib')):
        problems.append(f'no libcudart.so in {home}/lib64 or lib')
    release = nvcc_release(nvcc)
    if release is None:
        problems.append(f'{nvcc} --version does not run')
    elif release.split('.')[0] != cuda_version.split('.')[0]:
        problems.append(f'nvcc {release}, torch needs CUDA '
                        f'{cuda_version.split(".")[0]}.x')
    return problems


def toolkit_candidates(env: Dict[str, str]) -> List[str]:
    """Existing folders that may hold a system toolkit, in order: CUDA_HOME,
    CUDA_PATH, the folder above ``nvcc`` on PATH, :data:`DEFAULT_CUDA_HOME`
    (none with ``MMUNIREPLK_CUDA_FROM_PIP=1``)."""
    if env.get('MMUNIREPLK_CUDA_FROM_PIP') == '1':
        return []
    candidates = [env.get('CUDA_HOME'), env.get('CUDA_PATH')]
    nvcc = shutil.which('nvcc', path=env.get('PATH', ''))
    if nvcc:
        candidates.append(osp.dirname(osp.dirname(osp.realpath(nvcc))))
    candidates.append(DEFAULT_CUDA_HOME)
    found = []
    for home in candidates:
        if home and osp.isdir(home) and home not in found:
            found.append(home)
    return found


def find_system_toolkit(cuda_version: str,
                        env: Optional[Dict[str, str]] = None
                        ) -> Optional[str]:
    """The first of :func:`toolkit_candidates` that is a complete toolkit of
    torch's CUDA major version (any minor)."""
    env = os.environ if env is None else env
    for home in toolkit_candidates(env):
        if not toolkit_problems(home, cuda_version):
            return home
    return None


def rejected_toolkits(cuda_version: str,
                      env: Optional[Dict[str, str]] = None) -> List[str]:
    """``'<folder>: <problems>'`` for each candidate that is not usable."""
    env = os.environ if env is None else env
    notes = []
    for home in toolkit_candidates(env):
        problems = toolkit_problems(home, cuda_version)
        if problems:
            notes.append(f'{home}: ' + '; '.join(problems))
    return notes


def minor_mismatch(home: str, cuda_version: str) -> Optional[str]:
    """A warning when ``home``'s nvcc has another minor version than
    torch's CUDA (torch builds with it; the ops use that nvcc's CUDA)."""
    release = nvcc_release(osp.join(home, 'bin', 'nvcc'))
    if release is None or release == major_minor(cuda_version):
        return None
    return (f'warning: the CUDA toolkit in {home} is {release}, torch was '
            f'built with CUDA {cuda_version}: building with it (torch '
            'accepts another minor version of the same major)')


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
                  env: Optional[Dict[str, str]] = None,
                  cuda_version: Optional[str] = None,
                  capabilities: Optional[Sequence[Sequence[int]]] = None
                  ) -> Dict[str, str]:
    """Environment of the mmcv CUDA build (see the module docstring): a
    system toolkit of torch's CUDA major version, else the PyPI one.

    Args:
        cuda_home_dir: Where the PyPI toolkit is assembled.
        env: The environment (``os.environ`` when None).
        cuda_version: ``torch.version.cuda`` (queried when None).
        capabilities: The visible GPUs' (see :func:`arch_list`).

    Raises:
        ValueError: For a CPU-only torch, or no toolkit for its CUDA version
            on the system or on PyPI, or no arch list.
        RuntimeError: If the installed PyPI toolkit is incomplete.
    """
    env = dict(os.environ if env is None else env)
    if cuda_version is None:
        cuda_version = torch_cuda_version()
    cuda_version = require_cuda_torch(cuda_version)
    archs = arch_list(env, capabilities)
    home = find_system_toolkit(cuda_version, env)
    if home is not None:
        warning = minor_mismatch(home, cuda_version)
        if warning:
            print(f'cuda_build_env: {warning}', file=sys.stderr)
    else:
        pins = pinned_packages(cuda_version)  # no PyPI nvcc: both fixes
        roots = pip_cuda_roots(cuda_version)
        if not roots:
            raise RuntimeError(
                'no CUDA toolkit and no nvidia/cu* folder on sys.path: '
                'install ' + ' '.join(pins))
        home = merge_tree(roots, cuda_home_dir)
        problems = toolkit_problems(home, cuda_version)
        if problems:
            raise RuntimeError('the PyPI CUDA toolkit is incomplete: ' +
                               '; '.join(problems) + ' (install ' +
                               ' '.join(pins) + ')')
    return dict(
        CUDA_HOME=home,
        PATH=osp.join(home, 'bin') + os.pathsep + env.get('PATH', ''),
        TORCH_CUDA_ARCH_LIST=archs,
        FORCE_CUDA='1')


def nvcc_packages(cuda_version: Optional[str],
                  env: Optional[Dict[str, str]] = None) -> List[str]:
    """The PyPI packages to install before :func:`build_exports`: none when
    a system toolkit is found, else :func:`pinned_packages` (which names
    both fixes when PyPI has none). Says on stderr why each toolkit
    candidate was passed over."""
    cuda_version = require_cuda_torch(cuda_version)
    env = os.environ if env is None else env
    if find_system_toolkit(cuda_version, env) is not None:
        return []
    for note in rejected_toolkits(cuda_version, env):
        print(f'cuda_build_env: not usable: {note}', file=sys.stderr)
    return pinned_packages(cuda_version)


def mem_available(meminfo: str = '/proc/meminfo') -> int:
    """MemAvailable of ``meminfo`` in bytes.

    Raises:
        ValueError: If the file cannot be read or has no MemAvailable line.
    """
    try:
        with open(meminfo) as f:
            text = f.read()
    except OSError as err:
        raise ValueError(f'cannot read {meminfo} ({err}): set MAX_JOBS')
    match = re.search(r'^MemAvailable:\s+(\d+)\s*kB', text, re.MULTILINE)
    if match is None:
        raise ValueError(f'no MemAvailable line in {meminfo}: set MAX_JOBS')
    return int(match.group(1)) << 10


def build_jobs(env: Optional[Dict[str, str]] = None,
               nproc: Optional[int] = None,
               meminfo: str = '/proc/meminfo') -> int:
    """Parallel compile jobs of the CUDA build: ``MAX_JOBS`` when set, else
    min(``nproc`` (the CPUs this process may use), MemAvailable /
    :data:`JOB_MEMORY`, :data:`MAX_DEFAULT_JOBS`), at least 1: one nvcc
    takes 1-2 GB, so one job per core exhausts a many-core node's memory.

    Raises:
        ValueError: For a MAX_JOBS that is not a positive integer, or an
            unreadable ``meminfo``.
    """
    env = os.environ if env is None else env
    if env.get('MAX_JOBS'):
        value = env['MAX_JOBS']
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f'MAX_JOBS={value!r} is not a positive integer')
        return int(value)
    if nproc is None:
        nproc = len(os.sched_getaffinity(0))
    by_memory = mem_available(meminfo) // JOB_MEMORY
    return max(1, min(nproc, by_memory, MAX_DEFAULT_JOBS))


def version_tuple(version: str) -> Tuple[int, ...]:
    """``(580, 65, 6)`` from ``'580.65.06'``."""
    return tuple(int(part) for part in version.split('.'))


def driver_version(nvidia_smi: str = 'nvidia-smi') -> Optional[str]:
    """The NVIDIA driver version that ``nvidia-smi`` (found on PATH)
    reports, or None where it is missing, fails or lists no GPU (a CPU
    machine, a login node, a container started without GPUs); a failing
    one is reported on stderr.

    Raises:
        ValueError: If it prints something that is not a driver version.
    """
    exe = shutil.which(nvidia_smi)
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, '--query-gpu=driver_version', '--format=csv,noheader'],
            capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        print(f'cuda_build_env: {exe} does not run ({err}): treating this '
              'machine as one without GPUs', file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f'cuda_build_env: {exe} failed (exit {proc.returncode}: '
              f'{(proc.stdout + proc.stderr).strip()[:300]}): treating this '
              'machine as one without GPUs', file=sys.stderr)
        return None
    lines = [line.strip() for line in proc.stdout.splitlines()
             if line.strip()]
    if not lines:
        return None
    if not re.fullmatch(r'\d+(\.\d+){1,2}', lines[0]):
        raise ValueError(f'{exe} --query-gpu=driver_version printed '
                         f'{lines[0]!r}, not a driver version')
    return lines[0]


def driver_problem(driver: str, cuda_version: Optional[str],
                   cuda_available: bool,
                   cuda_init_error: str = '') -> Optional[str]:
    """Why this torch cannot use the GPUs of a node with NVIDIA driver
    ``driver`` (None: it can), with the fix.

    Args:
        driver: The driver version (``'580.65.06'``).
        cuda_version: ``torch.version.cuda`` (None: a CPU-only torch).
        cuda_available: ``torch.cuda.is_available()``.
        cuda_init_error: torch's warning on why CUDA did not initialise.
    """
    if cuda_available:
        return None
    fits = [url for need, url in TORCH_INDEXES
            if version_tuple(driver) >= version_tuple(need)]
    other_torch = (f'TORCH_INDEX_URL={fits[0]} bash tools/install.sh'
                   if fits else None)
    if not cuda_version:
        return (f'this node has NVIDIA driver {driver}, but torch is a '
                'CPU-only build: ' +
                (f'get a CUDA torch for this driver: {other_torch}'
                 if other_torch else
                 f'update the driver (>= {MIN_DRIVER["12"]}) and install a '
                 'CUDA build of torch'))
    major = cuda_version.split('.')[0]
    need = MIN_DRIVER.get(major)
    if need is not None and version_tuple(driver) < version_tuple(need):
        return (f'NVIDIA driver {driver} is too old for this torch, built '
                f'with CUDA {cuda_version} (CUDA {major}.x needs driver >= '
                f'{need}), so torch.cuda.is_available() is False. Either '
                f'update the driver to >= {need}' +
                (f', or get a torch for this driver: {other_torch}'
                 if other_torch else ''))
    return (f'torch.cuda.is_available() is False on this node although its '
            f'NVIDIA driver {driver} supports torch\'s CUDA {cuda_version}'
            + (f' ({cuda_init_error})' if cuda_init_error else '') +
            '. Check CUDA_VISIBLE_DEVICES (now '
            f'{os.environ.get("CUDA_VISIBLE_DEVICES", "unset")!r}), that the '
            'job or container was given the GPUs (e.g. Slurm --gpus, docker '
            '--gpus all), and that nvidia-smi lists them')


def torch_cuda_state() -> Tuple[Optional[str], bool, str]:
    """``(torch.version.cuda, torch.cuda.is_available(), torch's warning
    on why CUDA did not initialise)``."""
    import torch  # only here: most commands run before torch may exist
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        available = torch.cuda.is_available()
    reason = ' '.join(str(w.message).strip() for w in caught)
    return torch.version.cuda, available, reason[:300]


def check_driver(cuda_version: Optional[str] = None,
                 cuda_available: Optional[bool] = None) -> str:
    """The driver and torch CUDA line to log on a GPU node (``''`` on a
    machine without ``nvidia-smi``).

    Raises:
        RuntimeError: With :func:`driver_problem` when torch cannot use the
            GPUs.
    """
    driver = driver_version()
    if driver is None:
        return ''
    torch_cuda, available, reason = torch_cuda_state()
    cuda_version = torch_cuda if cuda_version is None else cuda_version
    available = available if cuda_available is None else cuda_available
    problem = driver_problem(driver, cuda_version, available, reason)
    if problem:
        raise RuntimeError(problem)
    return f'NVIDIA driver {driver}, torch CUDA {cuda_version}: usable'


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'command', choices=('packages', 'exports', 'tag', 'jobs',
                            'driver-version', 'check-driver'))
    parser.add_argument(
        '--cuda-home-dir',
        default=osp.expanduser('~/.cache/mmunireplk/cuda-home'),
        help='where the PyPI toolkit is assembled (exports)')
    parser.add_argument(
        '--cuda-version',
        help="torch's CUDA version (default: torch.version.cuda)")
    parser.add_argument(
        '--meminfo', default='/proc/meminfo',
        help='file with the MemAvailable line (jobs)')
    parser.add_argument(
        '--nproc', type=int,
        help='CPUs to use (jobs; default: those of this process)')
    args = parser.parse_args(argv)
    try:
        if args.command == 'jobs':
            print(build_jobs(nproc=args.nproc, meminfo=args.meminfo))
            return 0
        if args.command == 'driver-version':
            print(driver_version() or '')
            return 0
        if args.command == 'check-driver':
            line = check_driver(args.cuda_version)
            if line:
                print(line)
            return 0
        cuda_version = args.cuda_version or torch_cuda_version()
        if args.command == 'packages':
            pins = nvcc_packages(cuda_version)
            if pins:
                print('\n'.join(pins))
        elif args.command == 'tag':
            cuda_version = require_cuda_torch(cuda_version)
            print(wheel_tag(cuda_version, arch_list()))
        else:
            exports = build_exports(args.cuda_home_dir,
                                    cuda_version=cuda_version)
            for name, value in exports.items():
                print(f'export {name}={shlex.quote(value)}')
    except (ValueError, RuntimeError) as err:
        print(f'cuda_build_env: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
