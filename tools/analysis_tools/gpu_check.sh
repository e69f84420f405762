#!/usr/bin/env bash
# The GPU check of mmunireplk in one command, cut off after 8 minutes (the
# JSON keeps every section finished by then):
#
#   bash tools/analysis_tools/gpu_check.sh [OUT_DIR] [extra gpu_check.py args]
#   bash tools/analysis_tools/gpu_check.sh /tmp/gpu_check_dry --dry-run
#
# Writes OUT_DIR/gpu_check.json (default work_dirs/gpu_check) and
# OUT_DIR/gpu_check.log; prints the table. Exit status: 0 all checks passed,
# 1 a check failed, 124 the time limit was reached.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$ROOT/work_dirs/gpu_check}
shift || true
LIMIT=${GPU_CHECK_TIMEOUT:-480}
mkdir -p "$OUT"
cd "$ROOT"
if [[ " $* " != *" --dry-run "* ]]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
        2>&1 | tee "$OUT/nvidia-smi.txt" || true
fi
timeout --signal=INT --kill-after=20 "$LIMIT" "${PYTHON:-python3}" \
    tools/analysis_tools/gpu_check.py --out-dir "$OUT" "$@" 2>&1 \
    | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "gpu_check: stopped after ${LIMIT}s; finished sections are in $OUT/gpu_check.json"
exit "$rc"
