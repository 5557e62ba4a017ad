#!/usr/bin/env bash
# The whole test suite in one command, on a fresh Debian machine: installs Python packages and
# Debian's PostgreSQL server, then runs ruff and pytest. Every database test runs on SQLite and
# on a throw-away PostgreSQL server that the suite starts on loopback and removes afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "installing Debian's PostgreSQL server for the tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
fi
export FABRIEK_REQUIRE_POSTGRES=1
.venv/bin/ruff check src tests benchmarks
exec .venv/bin/python -m pytest "$@"
