#!/usr/bin/env bash
# The nginx edge, live: the real nginx with infra/nginx's configuration in front of two
# redirect and two gateway processes (plus links and auth), all on 127.0.0.1. Under load,
# one redirect process is killed (SIGKILL, no drain); fewer than 0.1% of requests may
# fail. Then the same for a gateway, under a read load.
#
#   scripts/check-edge.sh            (scripts/check-deploy.sh runs it)
#
# The configuration is used as shipped except for what only exists inside compose: the
# upstream host names become the local processes' ports, and the listen port a free one
# (scripts/lib/stack.sh). Needs nginx and wrk (Debian packages) and target/debug/hop
# (HOP_BIN to override).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

HOP=${HOP_BIN:-target/debug/hop}
[ -x "$HOP" ] || { echo "no $HOP: run cargo build first (or set HOP_BIN)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'stack_cleanup; rm -rf "$WORK"' EXIT
stack_init "$WORK"
ANONYMOUS_LINKS=true RATE_LIMIT_CREATE_ANON_IP=off stack_start_services
stack_start_nginx

# Routing: API through the gateway, codes through redirect, the rest refused.
for i in $(seq 1 200); do
  curl -fsS -X POST "$EDGE_URL/links" -H 'content-type: application/json' \
    -d "{\"url\":\"https://example.com/edge/$i\"}" -o /dev/null
done
psql "$DATABASE_URL" -Atc "SELECT code FROM $DATABASE_SCHEMA.links" >"$WORK/codes.txt"
code=$(head -n 1 "$WORK/codes.txt")
[ "$(curl -s -o /dev/null -w '%{http_code}' "$EDGE_URL/$code")" = 302 ] || { echo "GET /{code} is not a 302 through the edge" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$EDGE_URL/$code")" = 405 ] || { echo "POST /{code} is not refused" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$EDGE_URL/metrics")" = 404 ] || { echo "/metrics is exposed" >&2; exit 1; }
curl -fsS -D "$WORK/headers" -o /dev/null -H 'accept-encoding: gzip' -H 'x-request-id: edge-check-1' "$EDGE_URL/links/$code"
grep -qi '^x-request-id: edge-check-1' "$WORK/headers" || { echo "the request id is not carried" >&2; exit 1; }
echo "  routing: API to the gateways, codes to redirect, POST /{code} 405, /metrics 404, request id carried" >&2

# Every response carries exactly one X-Content-Type-Options: nosniff, whichever location
# or refusal produced it.
nosniff() { # curl arguments
  local headers
  headers=$(curl -s -o /dev/null -D - "$@")
  [ "$(grep -ci '^x-content-type-options: nosniff' <<<"$headers")" = 1 ] \
    || { echo "not exactly one X-Content-Type-Options: nosniff: curl $*" >&2; exit 1; }
}
nosniff "$EDGE_URL/$code"
nosniff -X POST "$EDGE_URL/$code"
nosniff "$EDGE_URL/metrics"
nosniff "$EDGE_URL/nginx-health"
nosniff "$EDGE_URL/links/$code"
nosniff "$EDGE_URL/auth/me"
echo "  X-Content-Type-Options: nosniff on redirects, refusals, the edge's own answers and the API" >&2

# load NAME SCRIPT PID-TO-KILL: 10 s of load through the edge, the process killed after 3 s.
load() {
  local name=$1 script=$2 victim=$3 out total bad errors
  CODES_FILE=$WORK/codes.txt wrk -t1 -c32 -d10s -s "$script" "$EDGE_URL" >"$WORK/$name.wrk" 2>&1 &
  local wrk_pid=$!
  sleep 3
  { kill -9 "$victim"; wait "$victim"; } 2>/dev/null || true
  wait "$wrk_pid"
  out=$(cat "$WORK/$name.wrk")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out"); bad=${bad:-0}
  errors=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$out"); errors=${errors:-0}
  python3 - "$name" "$total" "$bad" "$errors" <<'PY'
import sys
name, total, bad, errors = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
failed = bad + errors
share = failed / total if total else 1.0
print(f"  {name}: {total} requests, {failed} failed ({share:.4%}) with one upstream killed mid-run", file=sys.stderr)
if total < 1000 or share >= 0.001:
    sys.exit(f"{name}: {share:.4%} failed (limit 0.1%)")
PY
}
load redirect bench/wrk/codes.lua "$R1_PID"
load gateway bench/wrk/read.lua "$G1_PID"
