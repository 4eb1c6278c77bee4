#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the report tests and print the line that exports its URI:
#
#   eval "$(scripts/ci_postgres.sh)"        # sets NEXTSIGN_TEST_POSTGRES_URI
#   scripts/ci_postgres.sh stop             # stops it (the data directory is kept for the next start)
#
# Idempotent and fast: a cluster already running from an earlier call is reused (about 0.1 s).
# Installs PostgreSQL from Debian packages with apt-get when initdb/pg_ctl are missing. The server
# listens on 127.0.0.1 only, with trust authentication (a CI database, never a real one), fsync off.
# As root it runs as the user "postgres" (created if missing): PostgreSQL refuses to run as root.
# Settings: NEXTSIGN_PG_DIR (default /tmp/nextsign-pg), NEXTSIGN_PG_PORT (default 55432; a free port
# is picked when that one is taken by something else), NEXTSIGN_PG_DB (default nextsign_test).
# Everything but the export line goes to stderr.
set -euo pipefail

DIR=${NEXTSIGN_PG_DIR:-/tmp/nextsign-pg}
DB=${NEXTSIGN_PG_DB:-nextsign_test}
DATA="$DIR/data"
say() { echo "ci_postgres: $*" >&2; }

find_bin() {
    local name=$1 candidate
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/$name" ]; then echo "$candidate/$name"; return 0; fi
    done
    return 1
}

ensure_binaries() {
    if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null; then return 0; fi
    [ "$(id -u)" = 0 ] || { say "initdb/pg_ctl not found; install PostgreSQL (needs root for apt-get)"; exit 1; }
    say "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    find_bin initdb >/dev/null || { say "initdb still missing after apt-get install postgresql"; exit 1; }
}

# Run a PostgreSQL binary as the cluster owner (never as root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ensure_binaries
INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)
PSQL_BIN=$(dirname "$PG_CTL")

if [ "${1:-start}" = stop ]; then
    if [ -f "$DATA/PG_VERSION" ]; then as_owner "$PG_CTL" -D "$DATA" -m fast -w stop >&2 || true; fi
    exit 0
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    say "creating system user postgres"
    useradd --system --home-dir "$DIR" --shell /usr/sbin/nologin postgres
fi

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
chmod 700 "$DIR"

if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initialising a cluster in $DATA"
    as_owner "$INITDB" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
fi

if as_owner "$PG_CTL" -D "$DATA" status >/dev/null 2>&1; then
    PORT=$(cat "$DIR/port")
else
    PORT=${NEXTSIGN_PG_PORT:-55432}
    port_free "$PORT" || PORT=$(free_port)
    say "starting PostgreSQL on 127.0.0.1:$PORT"
    as_owner "$PG_CTL" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
        -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2 || { tail -n 30 "$DIR/server.log" >&2; exit 1; }
    echo "$PORT" >"$DIR/port.tmp" && mv "$DIR/port.tmp" "$DIR/port"
fi

PSQL="$PSQL_BIN/psql"
[ -x "$PSQL" ] || PSQL=$(command -v psql)
if [ "$(as_owner "$PSQL" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$DB'")" != 1 ]; then
    as_owner "$PSQL" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "create database \"$DB\"" >&2
fi

URI="postgresql://postgres@127.0.0.1:$PORT/$DB"
say "ready: $URI"
echo "export NEXTSIGN_TEST_POSTGRES_URI=$URI"
