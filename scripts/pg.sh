#!/bin/bash
# A throw-away PostgreSQL server for scripts (benchmarks, manual checks); also works as root.
#
#   eval "$(scripts/pg.sh start)"   # exports PGTEST_DIR PGHOST PGPORT PGUSER PGDATABASE FABRIEK_PG_URL
#   ...                             # FABRIEK_PG_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/fabriek
#                                   # FABRIEK_PG_SOCKET_URL: the same over the Unix socket
#   scripts/pg.sh stop "$PGTEST_DIR"
#
# The server listens on 127.0.0.1 only (plus a Unix socket in PGTEST_DIR), trusts local
# connections, and trades durability for speed (fsync, synchronous_commit and full_page_writes
# off): never put data you want to keep in it. Only `start` prints to stdout (the exports).
#
# Environment:
#   PGBIN        server binaries (default: the newest /usr/lib/postgresql/*/bin)
#   PGTEST_PORT  port (default: a free loopback port)
#   PGTEST_DB    database to create (default: fabriek)
#   PGTEST_MAX_CONNECTIONS  (default: 200)
#
# If no server binaries are found, Debian's postgresql is installed (root only).
set -euo pipefail

as_pg() {   # initdb and pg_ctl refuse to run as root: run only them as `postgres`
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_pgbin() {
  if [ -n "${PGBIN:-}" ]; then
    [ -x "$PGBIN/pg_ctl" ] && { echo "$PGBIN"; return 0; }
    echo "pg.sh: PGBIN=$PGBIN has no pg_ctl" >&2; return 1
  fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && [ -x "$found/pg_ctl" ] && { echo "$found"; return 0; }
  return 1
}

install_pg() {
  if [ "$(id -u)" != 0 ]; then
    echo "pg.sh: PostgreSQL server binaries not found and not root; install postgresql" >&2
    return 1
  fi
  # Not a bare `apt-get install postgresql`: that would upgrade an installed server.
  dpkg -s postgresql-15 >/dev/null 2>&1 || {
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends postgresql >&2
  }
}

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

case "${1:-}" in
start)
  pgbin=$(find_pgbin) || { install_pg; pgbin=$(find_pgbin); } || {
    echo "pg.sh: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" >&2; exit 1; }
  dir=$(mktemp -d /tmp/pgtest.XXXXXX)
  trap 'as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true;
        rm -rf -- "$dir"' ERR
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  port=${PGTEST_PORT:-$(free_port)}
  db=${PGTEST_DB:-fabriek}
  as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >/dev/null
  # pg_ctl runs the server through /bin/sh: the -o string is shell-quoted.
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir \
     -c max_connections=${PGTEST_MAX_CONNECTIONS:-200} \
     -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
  as_pg "$pgbin/createdb" -h "$dir" -p "$port" -U postgres "$db"
  trap - ERR
  echo "export PGTEST_DIR=$dir PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=$db" \
       "FABRIEK_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$port/$db" \
       "FABRIEK_PG_SOCKET_URL='postgresql+psycopg://postgres@/$db?host=$dir&port=$port'"
  ;;
stop)
  dir=${2:?usage: $0 stop DIR}
  case "$dir" in /tmp/pgtest.*) ;; *) echo "pg.sh: refusing to remove $dir" >&2; exit 1;; esac
  [ -d "$dir" ] || exit 0
  pgbin=$(find_pgbin) || { echo "pg.sh: no pg_ctl to stop $dir; removing it" >&2; }
  [ -n "${pgbin:-}" ] && as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
    >/dev/null 2>&1 || true
  rm -rf -- "$dir"
  ;;
*)
  echo "usage: $0 start | stop DIR" >&2; exit 2;;
esac
