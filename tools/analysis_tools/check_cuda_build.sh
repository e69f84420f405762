#!/usr/bin/env bash
# Check, on a machine WITHOUT a GPU, that mmcv 2.1.0's CUDA ops compile and
# link with the PyPI nvcc that tools/install.sh uses (FORCE_CUDA=1). Nothing
# is installed into the active Python: a throwaway venv (with the system site
# packages, i.e. the installed torch) receives the pinned nvcc packages.
# PyPI has nvcc for a CUDA 13 torch only (tools/cuda_build_env.py); for a
# CUDA 12 torch run it with MMUNIREPLK_CUDA_FROM_PIP=0 and a CUDA 12 toolkit
# in CUDA_HOME.
#
#   bash tools/analysis_tools/check_cuda_build.sh            # full build
#   bash tools/analysis_tools/check_cuda_build.sh --one-file roi_align_cuda.cu
#
# Full build: `setup.py build_ext --inplace` of the mmcv 2.1.0 source, then
# imports the built mmcv._ext (after torch) and checks that it was compiled
# with CUDA and exposes roi_align_forward / nms. Slow: about an hour with
# MAX_JOBS=1 on 2 shared cores (not for CI). --one-file compiles a single
# .cu of mmcv/ops/csrc/pytorch/cuda with the flags torch's CUDAExtension
# uses and links it against libcudart and torch (about a minute).
#
# Env: PYTHON, MAX_JOBS (1), TORCH_CUDA_ARCH_LIST (9.0), WORKDIR (mktemp;
# kept afterwards), MMUNIREPLK_CUDA_FROM_PIP (1 here: test the PyPI nvcc
# even where a system toolkit exists; 0 to accept a system one).
set -euo pipefail

PY=${PYTHON:-python3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/mmunireplk_cuda_build.XXXXXX)}
ONE_FILE=
if [ "${1:-}" = "--one-file" ]; then
    ONE_FILE=${2:?--one-file needs a .cu file name, e.g. roi_align_cuda.cu}
fi
export MMUNIREPLK_CUDA_FROM_PIP=${MMUNIREPLK_CUDA_FROM_PIP:-1}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-1}
START=$(date +%s)
log() { printf '[check_cuda_build +%ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }

log "work dir $WORKDIR"
mkdir -p "$WORKDIR"
VENV="$WORKDIR/venv"
[ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"
VPY="$VENV/bin/python"
# (the helper's errors must stop the script: neither `mapfile < <(...)` nor
# `eval "$(...)"` would pass its exit status on)
PINS_TEXT=$("$VPY" "$ROOT/tools/cuda_build_env.py" packages) || exit 1
mapfile -t PINS < <(printf '%s' "$PINS_TEXT")
if [ ${#PINS[@]} -gt 0 ]; then
    log "installing ${PINS[*]} into the throwaway venv"
    "$VPY" -m pip install -q --disable-pip-version-check "${PINS[@]}"
fi
EXPORTS=$("$VPY" "$ROOT/tools/cuda_build_env.py" exports \
    --cuda-home-dir "$WORKDIR/cuda-home") || exit 1
eval "$EXPORTS"
log "CUDA_HOME=$CUDA_HOME TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
nvcc --version | tail -2

SRC="$WORKDIR/mmcv-2.1.0"
if [ ! -f "$SRC/setup.py" ]; then
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps \
        --no-binary :all: --no-build-isolation -d "$WORKDIR" mmcv==2.1.0
    tar xzf "$WORKDIR/mmcv-2.1.0.tar.gz" -C "$WORKDIR"
fi
cd "$SRC"

if [ -n "$ONE_FILE" ]; then
    CU="mmcv/ops/csrc/pytorch/cuda/$ONE_FILE"
    [ -f "$CU" ] || { echo "no $CU" >&2; exit 1; }
    # the flags of torch's CUDAExtension + mmcv's setup.py (MMCV_WITH_CUDA,
    # -std=c++17, its include folders)
    mapfile -t FLAGS < <("$VPY" - <<'EOF'
import os, sysconfig
from torch.utils import cpp_extension as ce
flags = [f'-I{p}' for p in ce.include_paths(device_type='cuda')]
flags += [f'-I{os.path.abspath(p)}' for p in (
    'mmcv/ops/csrc/pytorch', 'mmcv/ops/csrc/common',
    'mmcv/ops/csrc/common/cuda')]
flags += ['-I' + sysconfig.get_paths()['include']]
flags += ce.COMMON_NVCC_FLAGS + ce._get_cuda_arch_flags()
flags += ['--compiler-options', "'-fPIC'", '-DMMCV_WITH_CUDA',
          '-DTORCH_API_INCLUDE_EXTENSION_H', '-DTORCH_EXTENSION_NAME=_ext',
          '-std=c++17']
print('\n'.join(flags))
EOF
)
    log "nvcc -c $CU (${FLAGS[*]: -6})"
    nvcc "${FLAGS[@]}" -c "$CU" -o "$WORKDIR/${ONE_FILE%.cu}.o"
    ls -l "$WORKDIR/${ONE_FILE%.cu}.o"
    if command -v cuobjdump >/dev/null; then
        cuobjdump --list-elf "$WORKDIR/${ONE_FILE%.cu}.o" || true
    fi
    # link it as the build would (-lcudart needs the unversioned
    # libcudart.so that cuda_build_env.py adds to CUDA_HOME)
    TORCH_LIB=$("$VPY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    g++ -shared "$WORKDIR/${ONE_FILE%.cu}.o" -o "$WORKDIR/${ONE_FILE%.cu}.so" \
        -L"$CUDA_HOME/lib64" -L"$TORCH_LIB" -Wl,--no-as-needed -lcudart \
        -lc10 -ltorch -ltorch_cpu -ltorch_cuda -lc10_cuda
    LD_LIBRARY_PATH="$CUDA_HOME/lib64:$TORCH_LIB" ldd "$WORKDIR/${ONE_FILE%.cu}.so" \
        | grep -E 'cudart|not found' || true
    log "OK: $ONE_FILE compiled and linked"
    exit 0
fi

log "building mmcv 2.1.0 CUDA ops (MAX_JOBS=$MAX_JOBS)"
MMCV_WITH_OPS=1 "$VPY" setup.py build_ext --inplace > "$WORKDIR/build.log" 2>&1 || {
    tail -40 "$WORKDIR/build.log"; log "FAILED: build (log $WORKDIR/build.log)"; exit 1; }
ls -l mmcv/_ext*.so
"$VPY" - <<'EOF'
import torch  # noqa: F401  (mmcv._ext links torch's libraries)
import mmcv._ext as ext
version = ext.get_compiling_cuda_version()
assert version != 'not available', 'built without CUDA'
for name in ('roi_align_forward', 'nms'):
    assert hasattr(ext, name), name
print(f'mmcv._ext: compiled with CUDA {version}, {ext.get_compiler_version()}')
EOF
log "OK: mmcv CUDA ops compiled and linked (log $WORKDIR/build.log)"
