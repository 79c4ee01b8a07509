#!/usr/bin/env bash
# Create .venv and install newsbot with everything it needs, offline-safe and idempotent.
# torch==2.13.0 is installed first: it is the CPU build on this machine's disk; letting
# sentence-transformers pull torch would download a multi-GB CUDA build instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
with_dev=0
[ "${1:-}" = "--dev" ] && with_dev=1

digest="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
stamp=".venv/.newsbot-installed-$digest-$with_dev"
# A dev install holds everything a plain one needs: the run and test commands must not reinstall in turn.
if [ -f "$stamp" ] || [ -f ".venv/.newsbot-installed-$digest-1" ]; then
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet --upgrade "pip>=25.1"
echo "setup: installing torch==2.13.0 (CPU build) first" >&2
.venv/bin/python -m pip install --quiet "torch==2.13.0"
echo "setup: installing newsbot and its dependencies" >&2
if [ "$with_dev" = 1 ]; then
  .venv/bin/python -m pip install --quiet -e . --group dev
else
  .venv/bin/python -m pip install --quiet -e .
fi
rm -f .venv/.newsbot-installed-*
touch "$stamp"
echo "setup: done" >&2
