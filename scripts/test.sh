#!/usr/bin/env bash
# Set up .venv with the dev tools (first run only) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
