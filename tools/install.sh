#!/usr/bin/env bash
# Idempotent set-up of the OpenMMLab stack and mmunireplk into the active
# Python (use a venv or conda env of your choice; set PYTHON to pick one).
#
#   bash tools/install.sh            # install what is missing, then verify
#
# Pins (see README "Installation" for why):
#   torch 2.12.1 + torchvision 0.27.1 (an existing working pair with
#   2.5 <= torch < 2.14 is kept, of any CUDA version or a CPU build; on a GPU
#   node it must also reach the GPUs),
#   mmcv 2.1.0 built with its compiled ops (wheel cached, rebuilt only when
#   torch changes), mmengine 0.10.7, mmdet 3.3.0, mmsegmentation 1.2.2,
#   mmpretrain 1.2.0, then this package in editable mode.
#
# Env: PYTHON; TORCH_VERSION, TORCHVISION_VERSION; TORCH_INDEX_URL (pip
# --index-url for torch and torchvision, e.g.
# https://download.pytorch.org/whl/cu126 where the driver is older than the
# 580 that PyPI's default CUDA 13 torch needs; a torch that does not work
# here is then replaced); for CUDA builds MAX_JOBS, TORCH_CUDA_ARCH_LIST,
# FORCE_CUDA, CUDA_HOME, MMUNIREPLK_CUDA_FROM_PIP; MMUNIREPLK_WHEEL_CACHE.
#
# GPU node (nvidia-smi reports a driver): torch must reach the GPUs, else the
# install stops with the driver version, torch's CUDA version and the fix
# (update the driver, or TORCH_INDEX_URL for a torch of an older CUDA).
#
# On a machine with a visible CUDA GPU (or with FORCE_CUDA=1) mmcv is built
# with its CUDA ops instead (install_mmcv_cuda below): nvcc from a system
# CUDA toolkit of torch's CUDA major version (any minor; CUDA_HOME,
# CUDA_PATH, nvcc on PATH, /usr/local/cuda), else the PyPI nvcc packages
# pinned to torch.version.cuda (CUDA 13.0-13.2; PyPI has no nvcc for CUDA
# 12); TORCH_CUDA_ARCH_LIST from the environment, else the visible GPUs
# (with no GPU visible, FORCE_CUDA=1 on a login node, it must be set);
# MAX_JOBS compile jobs, else min(CPUs, available memory / 2 GiB, 16). The
# wheel is cached per torch, CUDA version and arch list. These decisions are
# made in tools/cuda_build_env.py. Without a GPU nothing of this runs.
set -euo pipefail

PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.12.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.27.1}
MMCV_VERSION=2.1.0
WHEEL_CACHE=${MMUNIREPLK_WHEEL_CACHE:-$HOME/.cache/mmunireplk/wheels}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIP=("$PY" -m pip install --disable-pip-version-check)

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# 1. torch + torchvision: keep an existing working pair that mmcv 2.1.0 can
#    build against (torch >= 2.14 needs C++20, mmcv 2.1.0 compiles as C++17),
#    whatever its CUDA version; on a GPU node it must also reach the GPUs.
HELPER="$ROOT/tools/cuda_build_env.py"
# the NVIDIA driver version; empty on a CPU machine or a login node
DRIVER=$("$PY" "$HELPER" driver-version) || exit 1
torch_ok() {
    "$PY" - <<'EOF' 2>/dev/null
import torch, torchvision
from torchvision.ops import nms
major, minor = (int(v) for v in torch.__version__.split('.')[:2])
# >= 2.5: weights-only loading with get_unsafe_globals_in_checkpoint
assert (2, 5) <= (major, minor) < (2, 14), torch.__version__
boxes = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.]])
assert nms(boxes, torch.tensor([1., .5]), .5).tolist() == [0]
EOF
}
torch_usable() {
    torch_ok || return 1
    [ -z "$DRIVER" ] && return 0
    "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' \
        2>/dev/null
}
if torch_usable; then
    log "torch/torchvision present and working: keeping them"
else
    INDEX=()
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        INDEX=(--index-url "$TORCH_INDEX_URL")
        # pip counts a torch of the same version from another index as
        # installed: remove the one that does not work here first
        if "$PY" -c 'import torch' 2>/dev/null; then
            log "replacing the torch that does not work here by one from" \
                "$TORCH_INDEX_URL"
            "$PY" -m pip uninstall -y --disable-pip-version-check \
                torch torchvision
        fi
    elif torch_ok; then
        # a working pair that cannot reach this node's GPUs: the same index
        # would give it again; this names the driver and the fix, and fails
        "$PY" "$HELPER" check-driver || exit 1
    fi
    log "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION" \
        ${INDEX[@]+"${INDEX[@]}"}
    # PyPI's torch / torchvision pair, not a local CPU-only torch wheel:
    # PyPI's torchvision links CUDA libraries and fails beside the latter.
    "${PIP[@]}" ${INDEX[@]+"${INDEX[@]}"} "torch==$TORCH_VERSION" \
        "torchvision==$TORCHVISION_VERSION"
    torch_ok || { echo 'torch/torchvision do not import or run' >&2; exit 1; }
fi
if [ -n "$DRIVER" ]; then
    # the driver is new enough for torch's CUDA and torch reaches the GPUs;
    # else a message with both versions and the fix
    DRIVER_LINE=$("$PY" "$HELPER" check-driver) || exit 1
    log "$DRIVER_LINE"
fi

# 2. Build requirements of mmcv (setup.py imports pkg_resources and torch).
"$PY" - <<'EOF' 2>/dev/null || "${PIP[@]}" 'setuptools>=77,<81' wheel ninja psutil
import importlib.metadata as md
major = int(md.version('setuptools').split('.')[0])
assert 77 <= major < 81
import wheel, ninja, psutil, pkg_resources  # noqa: F401
EOF

# 3. mmcv 2.1.0 with compiled ops, built once per torch/CUDA combination.
want_cuda_ops() {
    [ "${FORCE_CUDA:-0}" = 1 ] && return 0
    "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' \
        2>/dev/null
}

# 3a. CUDA machines only: mmcv with CUDA ops.
mmcv_cuda_ok() {
    "$PY" - <<EOF 2>/dev/null
import torch
import mmcv
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
assert get_compiling_cuda_version() != 'not available', 'mmcv without CUDA'
if torch.cuda.is_available():
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]]).cuda()
    nms(boxes, torch.tensor([.9, .8]).cuda(), .5)
    RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 8, 8).cuda(),
                          torch.tensor([[0., 0., 0., 4., 4.]]).cuda())
EOF
}
install_mmcv_cuda() {
    if mmcv_cuda_ok; then
        log "mmcv $MMCV_VERSION with CUDA ops present"
        return
    fi
    local helper="$HELPER" cuda_tag tag dest pins exports jobs
    cuda_tag=$("$PY" "$helper" tag) || exit 1
    tag=$("$PY" -c "import torch; print('torch' + torch.__version__.replace('+', '-'))")-$cuda_tag
    dest="$WHEEL_CACHE/$tag"
    mkdir -p "$dest"
    if ! ls "$dest"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        pins=$("$PY" "$helper" packages) || exit 1
        if [ -n "$pins" ]; then
            log "no CUDA toolkit matching torch: installing nvcc from PyPI:" $pins
            # shellcheck disable=SC2086
            "${PIP[@]}" $pins
        fi
        exports=$("$PY" "$helper" exports \
            --cuda-home-dir "$(dirname "$WHEEL_CACHE")/cuda-home-$cuda_tag") \
            || exit 1
        eval "$exports"  # CUDA_HOME, PATH, TORCH_CUDA_ARCH_LIST, FORCE_CUDA
        # MAX_JOBS, else as many nvcc jobs as the cores and memory allow
        jobs=$("$PY" "$helper" jobs) || exit 1
        log "building mmcv $MMCV_VERSION with CUDA ops into $dest" \
            "(CUDA_HOME=$CUDA_HOME, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST," \
            "MAX_JOBS=$jobs)"
        # --no-cache-dir: pip's own wheel cache may hold a CPU-only build
        MMCV_WITH_OPS=1 MAX_JOBS=$jobs "$PY" -m pip wheel \
            --no-build-isolation --no-deps --no-cache-dir \
            --disable-pip-version-check -w "$dest" "mmcv==$MMCV_VERSION"
    fi
    log "installing the cached mmcv wheel with CUDA ops"
    "${PIP[@]}" --no-deps --force-reinstall "$dest"/mmcv-"$MMCV_VERSION"-*.whl
    "${PIP[@]}" mmengine==0.10.7 addict packaging Pillow pyyaml yapf \
        opencv-python
    mmcv_cuda_ok || { echo 'mmcv CUDA ops do not import or run' >&2; exit 1; }
}

# 3b. The CPU path (and what decides it).
mmcv_ok() {
    "$PY" - <<EOF 2>/dev/null
import mmcv
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
from mmcv.ops import nms, RoIAlign  # noqa: F401
EOF
}
if want_cuda_ops; then
    install_mmcv_cuda
elif mmcv_ok; then
    log "mmcv $MMCV_VERSION with ops present"
else
    TAG=$("$PY" -c "import torch; print('torch' + torch.__version__.replace('+', '-') + '-cuda' + str(torch.version.cuda if torch.cuda.is_available() else 'none'))")
    DEST="$WHEEL_CACHE/$TAG"
    mkdir -p "$DEST"
    if ! ls "$DEST"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        log "building mmcv $MMCV_VERSION with ops into $DEST (about 15-25 min on 2 CPU cores)"
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$PY" -m pip wheel \
            --no-build-isolation --no-deps --disable-pip-version-check \
            -w "$DEST" "mmcv==$MMCV_VERSION"
    fi
    log "installing the cached mmcv wheel"
    "${PIP[@]}" --no-deps --force-reinstall "$DEST"/mmcv-"$MMCV_VERSION"-*.whl
    # mmcv's own dependencies (mmcv imports mmengine)
    "${PIP[@]}" mmengine==0.10.7 addict packaging Pillow pyyaml yapf \
        opencv-python
    mmcv_ok || { echo 'mmcv.ops does not import' >&2; exit 1; }
fi

# 4. The OpenMMLab codebases, their unlisted import needs, test tools and
#    this package. pip skips what is already satisfied.
# (run from / so that the checkout itself does not shadow the install)
(cd / && MMUNIREPLK_ROOT="$ROOT" "$PY" -) <<'EOF' 2>/dev/null || {
import importlib.metadata as md
import os
want = {'mmengine': '0.10.7', 'mmdet': '3.3.0', 'mmsegmentation': '1.2.2',
        'mmpretrain': '1.2.0'}
for name, version in want.items():
    assert md.version(name) == version, name
import ftfy, regex, pytest, pytest_timeout, xdist, pycocotools, onnx, onnxruntime  # noqa: F401
import mmunireplk
# the editable install must point at this checkout (not an older clone)
here = os.path.dirname(os.path.dirname(os.path.abspath(mmunireplk.__file__)))
assert os.path.samefile(here, os.environ['MMUNIREPLK_ROOT']), here
# and setup.py has run in it (a checkout re-created at the same path lacks
# the .mim folder that it makes)
assert os.path.isfile(os.path.join(here, 'mmunireplk', '.mim',
                                   'model-index.yml'))
assert int(md.version('setuptools').split('.')[0]) < 81
EOF
    log "installing mmengine / mmdet / mmseg / mmpretrain and mmunireplk"
    "${PIP[@]}" mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 \
        mmpretrain==1.2.0 ftfy regex pycocotools pytest pytest-timeout \
        pytest-xdist onnx \
        onnxruntime \
        'setuptools>=77,<81'
    "${PIP[@]}" --no-deps -e "$ROOT"
}

# 5. Verify the whole stack imports and the compiled ops run.
"$PY" - <<'EOF'
import torch, mmcv, mmengine, mmdet, mmseg, mmpretrain
import mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401
from mmcv.ops import RoIAlign, nms
import mmunireplk
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
nms(boxes, torch.tensor([.9, .8]), .5)
RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
if torch.cuda.is_available():  # the CUDA ops too, on a GPU machine
    nms(boxes.cuda(), torch.tensor([.9, .8]).cuda(), .5)
    RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 8, 8).cuda(),
                          torch.tensor([[0., 0., 0., 4., 4.]]).cuda())
print(f'[install] ok: torch {torch.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mmunireplk {mmunireplk.__version__}')
EOF
