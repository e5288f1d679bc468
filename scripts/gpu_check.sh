#!/usr/bin/env bash
# GPU check at real scale, offline (docs/gpu.md): random-weight Qwen2.5-VL-3B/-7B from their published configs,
# SFT (bf16, DeepSpeed ZeRO-2), GRPO-SIF with HF and vLLM rollouts, 64 eval items through vLLM; every stage in its
# own time box, exit status 1 if any failed. Options: scripts/gpu_check.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python="$(command -v python3)"; fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"   # a checkout runs without an install
exec "$python" "$here/gpu_check.py" "$@"
