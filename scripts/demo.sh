#!/usr/bin/env bash
# The embedded default in one command: install, then run the demo on SQLite with the local
# executor (a fresh database in a temporary directory; nothing else to set up).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/fabriek demo "$@"
