#!/usr/bin/env bash
# Start a throwaway Redis for the cross-host request budget and CeleryExecutor tests and print the
# line that exports its URL:
#
#   eval "$(scripts/ci_redis.sh)"          # sets NEXTSIGN_TEST_REDIS_URL
#   scripts/ci_redis.sh stop               # stops it
#
# Idempotent: a server already running from an earlier call is reused. Installs redis-server from
# Debian packages with apt-get when it is missing. The server listens on 127.0.0.1 only, with
# persistence off (a CI broker and budget store, never a real one), and runs daemonized with its pid
# file in the directory. Settings: NEXTSIGN_REDIS_DIR (default /tmp/nextsign-redis),
# NEXTSIGN_REDIS_PORT (default 56379; a free port is picked when that one is taken by something else).
# Everything but the export line goes to stderr.
set -euo pipefail

DIR=${NEXTSIGN_REDIS_DIR:-/tmp/nextsign-redis}
say() { echo "ci_redis: $*" >&2; }

ensure_binaries() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then return 0; fi
    [ "$(id -u)" = 0 ] || { say "redis-server not found; install it (needs root for apt-get)"; exit 1; }
    say "installing redis-server from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2
    command -v redis-server >/dev/null || { say "redis-server still missing after apt-get install"; exit 1; }
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

running() {
    [ -f "$DIR/port" ] && redis-cli -h 127.0.0.1 -p "$(cat "$DIR/port")" ping 2>/dev/null | grep -q PONG
}

if [ "${1:-start}" = stop ]; then
    # Never installs anything: stops what an earlier start left running, if anything.
    if command -v redis-cli >/dev/null 2>&1 && running; then
        redis-cli -h 127.0.0.1 -p "$(cat "$DIR/port")" shutdown nosave >/dev/null 2>&1 || true
    fi
    exit 0
fi

ensure_binaries

mkdir -p "$DIR"
chmod 700 "$DIR"

if running; then
    PORT=$(cat "$DIR/port")
else
    PORT=${NEXTSIGN_REDIS_PORT:-56379}
    port_free "$PORT" || PORT=$(free_port)
    say "starting redis-server on 127.0.0.1:$PORT"
    redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes --save '' --appendonly no \
        --dir "$DIR" --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/server.log" >&2
    for _ in $(seq 1 100); do
        redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG \
        || { tail -n 30 "$DIR/server.log" >&2; exit 1; }
    echo "$PORT" >"$DIR/port.tmp" && mv "$DIR/port.tmp" "$DIR/port"
fi

URL="redis://127.0.0.1:$PORT/0"
say "ready: $URL"
echo "export NEXTSIGN_TEST_REDIS_URL=$URL"
