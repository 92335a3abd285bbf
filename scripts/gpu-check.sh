#!/usr/bin/env bash
# The GPU check, on a CUDA machine, in under five minutes:
#   1. HunyuanOCR's engine on a tiny model in bf16, eager and sdpa attention: every image
#      read alone and in batches, outputs compared, both timed (scripts/gpu_check.py);
#   2. the tests marked for CUDA (pytest -m gpu).
# Run from the repository root with a Python that has torch (CUDA) and the hunyuan extra:
#   PYTHON=.venv/bin/python scripts/gpu-check.sh
# Exit status: 0 all good, 1 a difference or a failing test, 2 no CUDA device.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" - <<'PY' || { echo "no CUDA device here: nothing checked" >&2; exit 2; }
import sys, torch
sys.exit(0 if torch.cuda.is_available() else 1)
PY
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
status=0
timeout 180 "$PYTHON" scripts/gpu_check.py "$@" || status=1
timeout 120 "$PYTHON" -m pytest -m gpu tests/models -q -p no:cacheprovider || status=1
exit $status
