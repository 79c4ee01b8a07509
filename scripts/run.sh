#!/usr/bin/env bash
# Set everything up (first run only), index seeds/ if there is no index yet, and answer a question.
# Usage: bash scripts/run.sh ["your question"]   (default: the flagship question)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
question="${1:-How many soldiers were reported and by whom?}"
exec .venv/bin/newsbot ask "$question"
