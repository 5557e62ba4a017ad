#!/usr/bin/env bash
# Create .venv and install Fabriek into it (with the test extras when asked: setup.sh test).
# Installs Debian's python3-venv first where the interpreter cannot make a virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "Fabriek needs Python 3.11 or newer; $("$python" --version) found" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv
    "$python" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$extras" = test ]; then
  # The tests cover the AI Act search's semantic re-ranking too, which needs torch: its CPU
  # wheel first, or pip pulls the newest CUDA build (several GB).
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e '.[test,act-semantic]'
else
  .venv/bin/python -m pip install -q -e '.[postgresql]'
fi
