# Copyright (c) mmunireplk contributors. All rights reserved.
"""The install helpers on GPU nodes, simulated on a CPU machine:
``tools/cuda_build_env.py`` (toolkit choice, nvcc pins, compile jobs, arch
list, driver check) and step 1 of ``tools/install.sh`` (which torch to keep or
install). Fake CUDA toolkits, ``nvidia-smi`` scripts, ``/proc/meminfo``
files and a fake torch stand in for what the machine lacks."""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO, load_tool

SCRIPT = osp.join(REPO, 'tools', 'cuda_build_env.py')
HEADERS = ('cuda_runtime.h', 'cublas_v2.h', 'cusparse.h', 'cusolverDn.h')


@pytest.fixture
def cuda_env(tmp_path, monkeypatch):
    """The helper module, with its last-resort toolkit folder pointed at a
    folder that does not exist (this machine's /usr/local/cuda must not
    decide the tests)."""
    module = load_tool('tools/cuda_build_env.py')
    monkeypatch.setattr(module, 'DEFAULT_CUDA_HOME',
                        str(tmp_path / 'no-usr-local-cuda'))
    return module


def write_exe(path, body):
    """An executable shell script at ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + body + '\n')
    os.chmod(path, 0o755)
    return path


def fake_toolkit(home, release, headers=HEADERS, libcudart='lib64'):
    """A CUDA toolkit folder whose nvcc reports ``release`` (e.g.
    ``'12.4.131'``)."""
    short = '.'.join(release.split('.')[:2])
    write_exe(
        osp.join(home, 'bin', 'nvcc'),
        f'echo "nvcc: NVIDIA (R) Cuda compiler driver"\n'
        f'echo "Cuda compilation tools, release {short}, V{release}"')
    os.makedirs(osp.join(home, 'include'), exist_ok=True)
    for header in headers:
        open(osp.join(home, 'include', header), 'w').close()
    if libcudart:
        os.makedirs(osp.join(home, libcudart), exist_ok=True)
        open(osp.join(home, libcudart, 'libcudart.so'), 'w').close()
    return str(home)


def fake_nvidia_smi(bin_dir, driver='550.54.15', gpus=2, rc=0):
    """An ``nvidia-smi`` that answers ``--query-gpu=driver_version`` with
    ``driver`` once per GPU (or fails with ``rc``)."""
    if rc:
        body = ('echo "NVIDIA-SMI has failed because it couldn\'t '
                f'communicate with the NVIDIA driver."\nexit {rc}')
    else:
        body = textwrap.dedent(f'''\
            case "$*" in
              *--query-gpu=driver_version*) ;;
              *) echo "unexpected arguments: $*" >&2; exit 2 ;;
            esac
            i=0
            while [ $i -lt {gpus} ]; do echo "{driver}"; i=$((i+1)); done''')
    return write_exe(osp.join(str(bin_dir), 'nvidia-smi'), body)


def run_helper(*args, env=None):
    """``python tools/cuda_build_env.py ARGS`` in a subprocess, with no GPU
    visible to torch."""
    full_env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    for name in ('MAX_JOBS', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'CUDA_PATH',
                 'MMUNIREPLK_CUDA_FROM_PIP'):
        full_env.pop(name, None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, SCRIPT, *args],
                          capture_output=True, text=True, env=full_env,
                          timeout=120)


# --------------------------------------------------------- the CUDA toolkit


@pytest.mark.timeout(60)
def test_system_toolkit_of_another_minor_is_used(cuda_env, tmp_path,
                                                 monkeypatch, capsys):
    """A cu126 torch with a CUDA 12.4 toolkit: no PyPI nvcc is asked for,
    the toolkit is used, and the minor mismatch is a warning on stderr."""
    home = fake_toolkit(tmp_path / 'cuda-12.4', '12.4.131')
    monkeypatch.setattr(cuda_env, 'torch_cuda_version', lambda: '12.6')
    monkeypatch.setenv('CUDA_HOME', home)
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '8.0;9.0')
    monkeypatch.delenv('MMUNIREPLK_CUDA_FROM_PIP', raising=False)
    assert cuda_env.main(['packages']) == 0
    assert capsys.readouterr().out == ''
    assert cuda_env.main(
        ['exports', '--cuda-home-dir', str(tmp_path / 'pip-home')]) == 0
    out, err = capsys.readouterr()
    assert f'export CUDA_HOME={home}\n' in out
    assert f"export TORCH_CUDA_ARCH_LIST='8.0;9.0'\n" in out
    assert 'export FORCE_CUDA=1\n' in out
    assert 'warning' in err and '12.4' in err and 'CUDA 12.6' in err
    assert not osp.exists(tmp_path / 'pip-home')



@pytest.mark.timeout(60)
def test_packages_and_exports_cli(tmp_path):
    """The two commands install.sh runs before a build, for a cu126 torch:
    a 12.4 system toolkit serves; with none, both fixes and exit 1."""
    home = fake_toolkit(tmp_path / 'cuda-12.4', '12.4.131')
    env = {'CUDA_HOME': home, 'TORCH_CUDA_ARCH_LIST': '8.0'}
    proc = run_helper('packages', '--cuda-version', '12.6', env=env)
    assert (proc.returncode, proc.stdout) == (0, ''), proc.stderr
    proc = run_helper('exports', '--cuda-version', '12.6', '--cuda-home-dir',
                      str(tmp_path / 'pip-home'), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f'export CUDA_HOME={home}'
    assert 'export TORCH_CUDA_ARCH_LIST=8.0' in proc.stdout.splitlines()
    assert 'warning' in proc.stderr and '12.4' in proc.stderr
    env['MMUNIREPLK_CUDA_FROM_PIP'] = '1'  # no system toolkit counts
    for command in ('packages', 'exports'):
        proc = run_helper(command, '--cuda-version', '12.6', env=env)
        assert proc.returncode == 1 and proc.stdout == ''
        assert 'CUDA_HOME' in proc.stderr and 'TORCH_INDEX_URL' in proc.stderr

@pytest.mark.timeout(60)
def test_toolkit_lookup_order_and_problems(cuda_env, tmp_path):
    """CUDA_HOME, CUDA_PATH, nvcc on PATH, then the default folder; a
    toolkit of another major, or without the headers torch's CUDA headers
    include, or without libcudart.so is passed over with the reason."""
    other_major = fake_toolkit(tmp_path / 'cuda-11.8', '11.8.89')
    no_cusparse = fake_toolkit(tmp_path / 'partial', '12.6.85', headers=(
        'cuda_runtime.h', 'cublas_v2.h', 'cusolverDn.h'))
    no_cudart = fake_toolkit(tmp_path / 'nolib', '12.6.85', libcudart=None)
    on_path = fake_toolkit(tmp_path / 'cuda-12.8', '12.8.93')
    env = {'CUDA_HOME': other_major, 'CUDA_PATH': no_cusparse,
           'PATH': osp.join(on_path, 'bin')}
    assert cuda_env.find_system_toolkit('12.6', env) == on_path
    notes = cuda_env.rejected_toolkits('12.6', env)
    assert len(notes) == 2
    assert notes[0].startswith(other_major) and 'nvcc 11.8' in notes[0]
    assert notes[1].startswith(no_cusparse) and 'cusparse.h' in notes[1]
    assert any('libcudart.so' in p
               for p in cuda_env.toolkit_problems(no_cudart, '12.6'))
    # the default folder comes last
    cuda_env.DEFAULT_CUDA_HOME = fake_toolkit(tmp_path / 'default', '12.2.140')
    assert cuda_env.find_system_toolkit('12.6', {'PATH': ''}) == \
        cuda_env.DEFAULT_CUDA_HOME
    assert cuda_env.find_system_toolkit('12.6', {
        'PATH': '', 'MMUNIREPLK_CUDA_FROM_PIP': '1'}) is None


@pytest.mark.timeout(60)
def test_no_toolkit_error_names_both_fixes(cuda_env, tmp_path, capsys):
    """Without a usable system toolkit, a CUDA version that PyPI has no nvcc
    for stops with both fixes and says why each candidate was refused."""
    other_major = fake_toolkit(tmp_path / 'cuda-11.8', '11.8.89')
    env = {'CUDA_HOME': other_major, 'PATH': ''}
    for version in ('12.1', '12.4', '12.6', '12.8', '12.9', '13.9'):
        with pytest.raises(ValueError) as error:
            cuda_env.nvcc_packages(version, env)
        message = str(error.value)
        major = version.split('.')[0]
        assert f'CUDA {major}.x toolkit' in message
        assert 'CUDA_HOME' in message
        assert 'TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130' in \
            message
    assert 'nvidia-cuda-nvcc-cu12 holds no nvcc' in str(
        pytest.raises(ValueError, cuda_env.pinned_packages, '12.6').value)
    err = capsys.readouterr().err
    assert f'not usable: {other_major}' in err and 'nvcc 11.8' in err
    with pytest.raises(ValueError, match='CPU-only'):
        cuda_env.nvcc_packages(None, env)


@pytest.mark.timeout(60)
def test_pinned_pypi_nvcc(cuda_env):
    """CUDA 13.x: the four packages, pinned to one matching release."""
    assert cuda_env.pinned_packages('13.0') == [
        'nvidia-cuda-nvcc==13.0.88', 'nvidia-cuda-crt==13.0.88',
        'nvidia-nvvm==13.0.88', 'nvidia-cuda-cccl==13.0.85'
    ]
    assert cuda_env.pinned_packages('13.0.2') == \
        cuda_env.pinned_packages('13.0')
    for version, nvcc in (('13.1', '13.1.115'), ('13.2', '13.2.86')):
        pins = cuda_env.pinned_packages(version)
        assert [p.split('==')[0] for p in pins] == [
            'nvidia-cuda-nvcc', 'nvidia-cuda-crt', 'nvidia-nvvm',
            'nvidia-cuda-cccl'
        ]
        assert pins[0] == f'nvidia-cuda-nvcc=={nvcc}'
        assert all(p.split('==')[1].startswith(version + '.') for p in pins)


def fake_pip_toolkit(site, release='13.0.88'):
    """``site/nvidia/cu13`` laid out as the PyPI nvcc and torch's CUDA
    runtime packages lay it out (libcudart only versioned)."""
    root = osp.join(site, 'nvidia', 'cu13')
    fake_toolkit(root, release, libcudart=None)
    os.makedirs(osp.join(root, 'lib'))
    open(osp.join(root, 'lib', 'libcudart.so.13'), 'w').close()
    return root


@pytest.mark.timeout(60)
def test_pip_toolkit_only_without_system_toolkit(cuda_env, tmp_path,
                                                 monkeypatch):
    """A cu130 torch: the pinned PyPI nvcc when no CUDA 13 toolkit exists,
    assembled into a CUDA_HOME of links; a system CUDA 13 toolkit when
    there is one."""
    site = str(tmp_path / 'site')
    root = fake_pip_toolkit(site)
    monkeypatch.setattr(sys, 'path', [site, str(tmp_path)])
    env = {'PATH': '/usr/bin', 'TORCH_CUDA_ARCH_LIST': '9.0'}
    assert cuda_env.nvcc_packages('13.0', env) == \
        cuda_env.pinned_packages('13.0')
    exports = cuda_env.build_exports(str(tmp_path / 'home'), env, '13.0')
    home = str(tmp_path / 'home')
    assert exports == dict(CUDA_HOME=home, PATH=f'{home}/bin:/usr/bin',
                           TORCH_CUDA_ARCH_LIST='9.0', FORCE_CUDA='1')
    assert osp.realpath(osp.join(home, 'bin', 'nvcc')) == \
        osp.realpath(osp.join(root, 'bin', 'nvcc'))
    assert os.readlink(osp.join(home, 'lib64', 'libcudart.so')) == \
        'libcudart.so.13'
    assert not osp.lexists(osp.join(root, 'lib', 'libcudart.so'))
    system = fake_toolkit(tmp_path / 'cuda-13.1', '13.1.115')
    env['CUDA_HOME'] = system
    assert cuda_env.nvcc_packages('13.0', env) == []
    assert cuda_env.build_exports(str(tmp_path / 'home2'), env,
                                  '13.0')['CUDA_HOME'] == system


# ------------------------------------------------------------- compile jobs


def write_meminfo(path, available_kib):
    path.write_text(f'MemTotal:       1056000000 kB\n'
                    f'MemFree:         1000000 kB\n'
                    f'MemAvailable:   {available_kib} kB\n')
    return str(path)


@pytest.mark.timeout(60)
def test_build_jobs(cuda_env, tmp_path):
    """min(CPUs, available memory / 2 GiB, 16), at least 1; MAX_JOBS wins."""
    gib = 1 << 20  # in kB
    cases = [(128, 8 * gib, 4), (128, 1000 * gib, 16), (2, 64 * gib, 2),
             (128, gib // 2, 1), (12, 33 * gib, 12)]
    for nproc, available, jobs in cases:
        meminfo = write_meminfo(tmp_path / 'meminfo', available)
        assert cuda_env.build_jobs({}, nproc, meminfo) == jobs, \
            (nproc, available)
    assert cuda_env.build_jobs({'MAX_JOBS': '64'}, 128, meminfo) == 64
    for bad in ('0', '-2', 'all', '1.5'):
        with pytest.raises(ValueError, match='MAX_JOBS'):
            cuda_env.build_jobs({'MAX_JOBS': bad}, 128, meminfo)
    (tmp_path / 'old').write_text('MemTotal: 1000 kB\nMemFree: 10 kB\n')
    with pytest.raises(ValueError, match='MemAvailable.*set MAX_JOBS'):
        cuda_env.build_jobs({}, 4, str(tmp_path / 'old'))
    with pytest.raises(ValueError, match='set MAX_JOBS'):
        cuda_env.build_jobs({}, 4, str(tmp_path / 'missing'))
    # the real file and CPUs of this machine
    assert 1 <= cuda_env.build_jobs({}) <= min(len(os.sched_getaffinity(0)),
                                               16)


@pytest.mark.timeout(60)
def test_jobs_cli(tmp_path):
    meminfo = write_meminfo(tmp_path / 'meminfo', 8 << 20)
    proc = run_helper('jobs', '--meminfo', meminfo, '--nproc', '128')
    assert (proc.returncode, proc.stdout) == (0, '4\n'), proc.stderr
    proc = run_helper('jobs', '--meminfo', meminfo, env={'MAX_JOBS': '3'})
    assert (proc.returncode, proc.stdout) == (0, '3\n'), proc.stderr
    proc = run_helper('jobs', env={'MAX_JOBS': 'many'})
    assert proc.returncode == 1 and proc.stdout == ''
    assert "MAX_JOBS='many' is not a positive integer" in proc.stderr


# ---------------------------------------------------------------- arch list


@pytest.mark.timeout(60)
def test_arch_list(cuda_env):
    """The environment's list, else the visible GPUs'; with neither (a
    FORCE_CUDA build on a login node) an error naming the fix."""
    assert cuda_env.arch_list({}, [(9, 0), (8, 0), (9, 0)]) == '8.0;9.0'
    assert cuda_env.arch_list({'TORCH_CUDA_ARCH_LIST': '8.6+PTX'},
                              [(9, 0)]) == '8.6+PTX'
    for env in ({}, {'TORCH_CUDA_ARCH_LIST': ' '}):
        with pytest.raises(ValueError) as error:
            cuda_env.arch_list(env, [])
        assert "TORCH_CUDA_ARCH_LIST='8.0;9.0'" in str(error.value)
        assert 'GPU node' in str(error.value)
    assert cuda_env.wheel_tag('13.0', '8.0;9.0+PTX') == \
        'cuda13.0-arch8.0_9.0ptx'


@pytest.mark.timeout(120)
def test_tag_cli_without_gpu(tmp_path):
    """What install.sh runs first for a CUDA build: on a machine without a
    visible GPU it stops unless TORCH_CUDA_ARCH_LIST is set."""
    proc = run_helper('tag', '--cuda-version', '13.0')
    assert proc.returncode == 1 and proc.stdout == ''
    assert 'TORCH_CUDA_ARCH_LIST' in proc.stderr
    assert 'no GPU is visible' in proc.stderr
    proc = run_helper('tag', '--cuda-version', '13.0',
                      env={'TORCH_CUDA_ARCH_LIST': '8.0;9.0'})
    assert (proc.returncode, proc.stdout) == (0, 'cuda13.0-arch8.0_9.0\n')


# ------------------------------------------------------------ NVIDIA driver


@pytest.mark.timeout(60)
def test_driver_version(cuda_env, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / 'bin'
    monkeypatch.setenv('PATH', str(bin_dir))
    assert cuda_env.driver_version() is None  # no nvidia-smi
    fake_nvidia_smi(bin_dir, '580.65.06', gpus=8)
    assert cuda_env.driver_version() == '580.65.06'
    fake_nvidia_smi(bin_dir, '550.54.15', gpus=0)
    assert cuda_env.driver_version() is None  # no GPU listed
    fake_nvidia_smi(bin_dir, rc=9)
    assert cuda_env.driver_version() is None
    assert "couldn't communicate" in capsys.readouterr().err
    fake_nvidia_smi(bin_dir, 'No devices were found')
    with pytest.raises(ValueError, match='not a driver version'):
        cuda_env.driver_version()


@pytest.mark.timeout(60)
def test_driver_problem(cuda_env):
    """Driver minimums with CUDA minor version compatibility: 13.x >= 580,
    12.x >= 525.60.13; the fix suggested fits the driver."""
    problem = cuda_env.driver_problem
    assert problem('580.65.06', '13.0', True) is None
    # too old for CUDA 13: names both versions, both fixes
    message = problem('550.54.15', '13.0', False)
    assert 'NVIDIA driver 550.54.15' in message and 'CUDA 13.0' in message
    assert 'update the driver to >= 580' in message
    assert 'TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 bash ' \
        'tools/install.sh' in message
    # minor version compatibility: a cu128 torch runs on a 12.0 driver
    assert 'too old' not in problem('525.60.13', '12.8', False)
    message = problem('525.60.11', '12.8', False)
    assert 'too old' in message and '>= 525.60.13' in message
    assert 'TORCH_INDEX_URL' not in message  # no torch for that driver
    # new enough, still no GPU: where to look
    message = problem('580.82.07', '13.0', False, 'CUDA unknown error')
    assert 'CUDA_VISIBLE_DEVICES' in message and '580.82.07' in message
    assert 'CUDA unknown error' in message and 'too old' not in message
    # a CPU-only torch on a GPU node
    message = problem('580.82.07', None, False)
    assert 'CPU-only' in message and 'whl/cu130' in message


@pytest.mark.timeout(120)
def test_check_driver(cuda_env, tmp_path, monkeypatch):
    """In-process with torch's answers given, and as install.sh runs it."""
    fake_nvidia_smi(tmp_path / 'bin', '550.54.15')
    monkeypatch.setenv('PATH', str(tmp_path / 'bin'))
    assert cuda_env.check_driver('12.6', cuda_available=True) == \
        'NVIDIA driver 550.54.15, torch CUDA 12.6: usable'
    with pytest.raises(RuntimeError, match='too old'):
        cuda_env.check_driver('13.0', cuda_available=False)
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    assert cuda_env.check_driver('13.0', cuda_available=False) == ''

    path = str(tmp_path / 'bin') + os.pathsep + os.environ['PATH']
    proc = run_helper('driver-version', env={'PATH': path})
    assert (proc.returncode, proc.stdout) == (0, '550.54.15\n')
    proc = run_helper('check-driver', '--cuda-version', '13.0',
                      env={'PATH': path})
    assert proc.returncode == 1 and proc.stdout == ''
    assert 'NVIDIA driver 550.54.15 is too old' in proc.stderr
    assert 'CUDA 13.0' in proc.stderr and 'whl/cu126' in proc.stderr
    # no nvidia-smi (a login node): nothing to check
    proc = run_helper('check-driver', env={'PATH': str(tmp_path / 'empty')})
    assert (proc.returncode, proc.stdout) == (0, '')


# ------------------------------------------------- install.sh, step 1: torch

FAKE_TORCH = '''\
import json
import os

with open(os.environ['FAKE_TORCH_STATE']) as f:
    _state = json.load(f)
__version__ = _state['version']


class version:
    cuda = _state['cuda']


class cuda:

    @staticmethod
    def is_available():
        return _state['available']


def tensor(data):
    return data
'''

FAKE_TORCHVISION_OPS = '''\
class _Kept(list):

    def tolist(self):
        return list(self)


def nms(boxes, scores, iou_threshold):
    return _Kept([0])
'''

# The python that install.sh runs: pip only records its arguments (an
# install with --index-url puts the torch of FAKE_INDEX_STATE in place; the
# build requirements of step 2 exit 97, ending the script there), anything
# else runs in the real python with the fake torch first on sys.path.
FAKE_PYTHON = '''\
#!/bin/bash
if [ "$1" = -m ] && [ "$2" = pip ]; then
    echo "pip ${*:3}" >> "$FAKE_LOG"
    case " $* " in
        *" setuptools>=77,<81 "*) exit 97 ;;
        *" install "*" --index-url "*)
            printf '%s' "$FAKE_INDEX_STATE" > "$FAKE_TORCH_STATE" ;;
    esac
    exit 0
fi
exec "$REAL_PYTHON" "$@"
'''


def run_install_step1(tmp_path, torch_state, driver=None, smi_rc=0,
                      index_url=None, index_state=None):
    """``bash tools/install.sh`` with a fake torch, pip and nvidia-smi
    (``driver``; without it one that lists no GPU, or fails with
    ``smi_rc``), until it stops (rc 97: step 1 passed and step 2 began)."""
    site = tmp_path / 'site'
    (site / 'torchvision').mkdir(parents=True, exist_ok=True)
    (site / 'torch').mkdir(exist_ok=True)
    (site / 'torch' / '__init__.py').write_text(FAKE_TORCH)
    (site / 'torchvision' / '__init__.py').write_text('')
    (site / 'torchvision' / 'ops.py').write_text(FAKE_TORCHVISION_OPS)
    # step 2 checks its build requirements: a ninja that does not import
    # sends it to pip, which the fake ends with 97
    (site / 'ninja.py').write_text('raise ImportError("fake")\n')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / 'python').write_text(FAKE_PYTHON)
    (bin_dir / 'python').chmod(0o755)
    # always one: a real nvidia-smi on PATH must not decide the test
    fake_nvidia_smi(bin_dir, driver, gpus=2 if driver else 0, rc=smi_rc)
    state = tmp_path / 'torch.json'
    state.write_text(json.dumps(torch_state))
    log = tmp_path / 'calls.log'
    if log.exists():
        log.unlink()
    env = dict(
        PATH=f'{bin_dir}:/usr/bin:/bin', HOME=str(tmp_path / 'home'),
        PYTHON=str(bin_dir / 'python'), PYTHONPATH=str(site),
        REAL_PYTHON=sys.executable, FAKE_LOG=str(log),
        FAKE_TORCH_STATE=str(state),
        FAKE_INDEX_STATE=json.dumps(index_state or {}))
    if index_url:
        env['TORCH_INDEX_URL'] = index_url
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', 'install.sh')],
                          capture_output=True, text=True, env=env,
                          timeout=120)
    pip_calls = log.read_text().splitlines() if log.exists() else []
    torch_pip = [c for c in pip_calls if 'torch' in c]
    return proc, torch_pip


CU130 = dict(version='2.12.1+cu130', cuda='13.0', available=False)
CU126_OK = dict(version='2.12.1+cu126', cuda='12.6', available=True)
CU126_URL = 'https://download.pytorch.org/whl/cu126'


@pytest.mark.timeout(120)
def test_install_stops_on_driver_too_old_for_torch(tmp_path):
    """GPU node, driver 550, the cu130 torch: stop naming the driver,
    torch's CUDA and TORCH_INDEX_URL, before building anything."""
    proc, torch_pip = run_install_step1(tmp_path, CU130, '550.54.15')
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'NVIDIA driver 550.54.15 is too old' in proc.stderr
    assert 'CUDA 13.0' in proc.stderr
    assert f'TORCH_INDEX_URL={CU126_URL} bash tools/install.sh' in \
        proc.stderr
    assert torch_pip == []


@pytest.mark.timeout(120)
def test_install_torch_from_index_url(tmp_path):
    """Same node with TORCH_INDEX_URL: the unusable torch is replaced by the
    index's, whose CUDA the driver runs; a second run keeps it."""
    proc, torch_pip = run_install_step1(tmp_path, CU130, '550.54.15',
                                        index_url=CU126_URL,
                                        index_state=CU126_OK)
    assert proc.returncode == 97, proc.stdout + proc.stderr
    assert torch_pip == [
        'pip uninstall -y --disable-pip-version-check torch torchvision',
        f'pip install --disable-pip-version-check --index-url {CU126_URL} '
        'torch==2.12.1 torchvision==0.27.1'
    ]
    assert 'NVIDIA driver 550.54.15, torch CUDA 12.6: usable' in proc.stdout
    # idempotent: the working pair is kept, with or without the variable
    for url in (CU126_URL, None):
        proc, torch_pip = run_install_step1(tmp_path, CU126_OK, '550.54.15',
                                            index_url=url)
        assert proc.returncode == 97, proc.stdout + proc.stderr
        assert torch_pip == []
        assert 'keeping them' in proc.stdout and 'usable' in proc.stdout


@pytest.mark.timeout(120)
def test_install_without_gpu_keeps_any_working_torch(tmp_path):
    """No GPU (nvidia-smi lists none, or fails): the CPU path as before,
    any working pair is kept, no driver check."""
    for smi_rc in (0, 9):
        proc, torch_pip = run_install_step1(tmp_path, CU130, smi_rc=smi_rc)
        assert proc.returncode == 97, proc.stdout + proc.stderr
        assert torch_pip == [] and 'keeping them' in proc.stdout
        assert 'usable' not in proc.stdout
