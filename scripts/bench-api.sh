#!/usr/bin/env bash
# The integrator API's benchmark, in one run against one release `hop up` (embedded store,
# as a first-time user runs it; `--postgres` for PostgreSQL + Redis from DATABASE_URL and
# REDIS_URL, default the local ones):
#
#   scripts/bench-api.sh [--rounds N] [--duration SECS] [--postgres]
#
#   create-token  POST /links, one link per request, with a session's access token
#   create-key    the same with an API key (X-Api-Key): the key check and its per-key limit
#   bulk          POST /links/bulk, 1,000 links per request (links/s counted from the
#                 answers' `created`)
#
# wrk -t1 -c16 for the single creates (their order swapped every round), -c2 for bulk.
# The report gives medians over the rounds and, per round, bulk links/s over create-token requests/s (target >= 10) and
# create-key over create-token (target >= 0.95).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

ROUNDS=3
DURATION=8
POSTGRES=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --postgres) POSTGRES=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

cargo build --release --locked -q -p hop
WORK=$(mktemp -d)
HOP_PID=""
SCHEMA="bench_api_$(date +%s)"
cleanup() {
  if [ -n "$HOP_PID" ]; then kill "$HOP_PID" 2>/dev/null || true; wait "$HOP_PID" 2>/dev/null || true; fi
  if [ "$POSTGRES" = 1 ]; then
    psql -q "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    # The read model's entries under this run's prefix, left in the shared Redis otherwise.
    redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern "$SCHEMA:*" \
      | xargs -r -n 500 redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" del >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
limits=(RATE_LIMIT_CREATE_USER=off RATE_LIMIT_API_KEY=off RATE_LIMIT_BULK_USER=off LOG_LEVEL=warn)
if [ "$POSTGRES" = 1 ]; then
  env PORT="$PORT" HOP_DATA_DIR="$WORK/data" "${limits[@]}" \
    DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" DATABASE_SCHEMA="$SCHEMA" \
    REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" REDIS_KEY_PREFIX="$SCHEMA:" \
    target/release/hop up >"$WORK/hop.log" 2>&1 &
else
  env -u DATABASE_URL -u DATABASE_HOST -u REDIS_URL PORT="$PORT" HOP_DATA_DIR="$WORK/data" \
    "${limits[@]}" target/release/hop up >"$WORK/hop.log" 2>&1 &
fi
HOP_PID=$!
wait_http "$BASE/health/ready" 60 || { cat "$WORK/hop.log" >&2; exit 1; }

curl -fsS -o /dev/null -X POST "$BASE/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password"}'
TOKEN=$(curl -fsS -X POST "$BASE/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
API_KEY=$(curl -fsS -X POST "$BASE/auth/api-keys" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"bench","scopes":["links:write"]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_secret"])')

rps() { python3 -c 'import re,sys; t=sys.stdin.read(); b=re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t); sys.exit(f"{b.group(1)} failed") if b else print(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))'; }

ROWS=()
for round in $(seq 1 "$ROUNDS"); do
  echo "--- round $round/$ROUNDS" >&2
  # The two single-create scenarios swap order every round, so a drift of the machine
  # within a round does not always fall on the same one.
  if [ $((round % 2)) = 1 ]; then
    token=$(TOKEN=$TOKEN wrk -t1 -c16 -d"${DURATION}s" -s bench/wrk/create.lua "$BASE" | rps)
    key=$(API_KEY=$API_KEY wrk -t1 -c16 -d"${DURATION}s" -s bench/wrk/create.lua "$BASE" | rps)
  else
    key=$(API_KEY=$API_KEY wrk -t1 -c16 -d"${DURATION}s" -s bench/wrk/create.lua "$BASE" | rps)
    token=$(TOKEN=$TOKEN wrk -t1 -c16 -d"${DURATION}s" -s bench/wrk/create.lua "$BASE" | rps)
  fi
  out=$(TOKEN=$TOKEN wrk -t1 -c2 -d"${DURATION}s" --timeout 30s -s bench/wrk/bulk.lua "$BASE")
  created=$(printf '%s' "$out" | awk '/^bulk_links_created/{print $2}')
  bulk=$(python3 -c "print(round($created / $DURATION))")
  ROWS+=("$token $key $bulk")
done

printf '%s\n' "${ROWS[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
token, key, bulk = (statistics.median(c) for c in zip(*rows))
bulk_ratio = statistics.median(r[2] / r[0] for r in rows)
key_ratio = statistics.median(r[1] / r[0] for r in rows)
print()
print("%-14s %10s" % ("scenario", "links/s"))
print("%-14s %10.0f" % ("create-token", token))
print("%-14s %10.0f   %.2f of create-token (target >= 0.95)" % ("create-key", key, key_ratio))
print("%-14s %10.0f   %.1fx create-token (target >= 10)" % ("bulk", bulk, bulk_ratio))
'
