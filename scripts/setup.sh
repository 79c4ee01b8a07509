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
# newsbot's own modules, compiled ahead: an editable install leaves them as source, and where
# PYTHONDONTWRITEBYTECODE is set (CI, containers) every process would compile ~70 of them again, ~0.13 s
# of each cold `newsbot ask` (BENCHMARKS.md, session 13). Unchanged files cost a stat each (~0.1 s in all).
compile_sources() {
  .venv/bin/python -m compileall -q config models retrieval answers bot bench training >/dev/null
}

# A dev install holds everything a plain one needs: the run and test commands must not reinstall in turn.
if [ -f "$stamp" ] || [ -f ".venv/.newsbot-installed-$digest-1" ]; then
  compile_sources
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
compile_sources
touch "$stamp"
echo "setup: done" >&2
