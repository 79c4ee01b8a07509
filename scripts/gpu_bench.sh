#!/usr/bin/env bash
# Indexing end to end on the lent GPU machine: `newsbot bench --suite gpu --device cuda` over the
# corpus in .gpu/10kgnad repeated to >= 100,000 chunks, bf16, large batches (bench/gpu.py).
# Needs .whl/ and .gpu/10kgnad/ from scripts/prepare_gpu_bundle.sh. Results go to $OUT (or .gpu/out).
# Test it on a CPU with: SKIP_WHEELS=1 DEVICE=cpu CHUNKS=300 BATCH=16 CORPUS=some/folder scripts/gpu_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-.gpu/out}
SITE=.gpu/site
mkdir -p "$OUT"
if [ "${SKIP_WHEELS:-0}" = 1 ]; then  # testing where the packages are installed already
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  [ -d "$SITE" ] || "$PY" -m pip install --quiet --no-deps --no-index --target "$SITE" .whl/*.whl
  export PYTHONPATH="$PWD/$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export NEWSBOT_DATA_DIR="$PWD/.gpu/data" NEWSBOT_MODEL_CACHE_DIR="$PWD/.gpu/models"
"$PY" - <<'PY'
import platform, sys
import torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-", file=sys.stderr)
PY
# --out stays on this machine: its cache/ holds the stand-in model (470 MB); only the results go to $OUT.
"$PY" -m bot bench --suite gpu --device "$DEVICE" --corpus "${CORPUS:-.gpu/10kgnad}" \
  --gpu-chunks "${CHUNKS:-100000}" --gpu-batch "${BATCH:-512}" --out .gpu/results > /dev/null
cp .gpu/results/results.json .gpu/results/results.md "$OUT"/
"$PY" -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['gpu'], indent=1))" "$OUT/results.json"
