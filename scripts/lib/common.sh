# shellcheck shell=bash
# Helpers every script shares. Source it from the repository root:
#
#   . scripts/lib/common.sh
#
#   free_port             a free TCP port on 127.0.0.1
#   answers PORT          whether something accepts connections on 127.0.0.1:PORT
#   wait_http URL [SECS]  waits (default 30 s) until URL answers 2xx; fails otherwise
#   with_scratch          sets WORK to a new temporary directory and an EXIT trap that
#                         stops HOP_PID (when set) and removes WORK
#   hop_up_embedded BIN [VAR=VALUE ...]
#                         starts `BIN up` on the embedded store in $WORK/data (no
#                         PostgreSQL, no Redis) on a free port with the settings given,
#                         logging to $WORK/hop.log; sets PORT, BASE and HOP_PID and waits
#                         until it is ready (printing its log if it never is)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() {
  local tries=$(( ${2:-30} * 10 )) _
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

with_scratch() {
  WORK=$(mktemp -d)
  HOP_PID=""
  trap 'if [ -n "$HOP_PID" ]; then kill "$HOP_PID" 2>/dev/null || true; wait "$HOP_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
}

hop_up_embedded() {
  local bin=$1
  shift
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  env -u DATABASE_URL -u DATABASE_HOST -u REDIS_URL \
    PORT="$PORT" HOP_DATA_DIR="$WORK/data" LOG_LEVEL=warn "$@" \
    "$bin" up >"$WORK/hop.log" 2>&1 &
  HOP_PID=$!
  wait_http "$BASE/health/ready" 60 || { cat "$WORK/hop.log" >&2; return 1; }
}
