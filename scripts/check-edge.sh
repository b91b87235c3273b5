#!/usr/bin/env bash
# The nginx edge, live: the real nginx with infra/nginx's configuration in front of two
# redirect and two gateway processes (plus links and auth), all on 127.0.0.1. Under load,
# one redirect process is killed (SIGKILL, no drain); fewer than 0.1% of requests may
# fail. Then the same for a gateway, under a read load.
#
#   scripts/check-edge.sh            (scripts/check-deploy.sh runs it)
#
# The configuration is used as shipped except for what only exists inside compose: the
# upstream host names become the local processes' ports, and the listen port a free one.
# Needs nginx and wrk (Debian packages) and target/debug/hop (HOP_BIN to override).
set -euo pipefail
cd "$(dirname "$0")/.."

HOP=${HOP_BIN:-target/debug/hop}
[ -x "$HOP" ] || { echo "no $HOP: run cargo build first (or set HOP_BIN)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $DATABASE_SCHEMA CASCADE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_KEY_PREFIX*" 2>/dev/null \
    | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "$1 never answered" >&2; return 1; }

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop_test}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
export DATABASE_SCHEMA="edge_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export REDIS_KEY_PREFIX="$DATABASE_SCHEMA:" SECRET_KEY=edge-test-secret-0123456789
export PUBLIC_BASE_URL=http://localhost LOG_LEVEL=warn
"$HOP" migrate >/dev/null

LINKS=$(free_port); LINKS_ADMIN=$(free_port); AUTH=$(free_port); AUTH_ADMIN=$(free_port)
R1=$(free_port); R2=$(free_port); G1=$(free_port); G2=$(free_port); EDGE=$(free_port)
PORT=$LINKS ADMIN_PORT=$LINKS_ADMIN "$HOP" serve links >"$WORK/links.log" 2>&1 & PIDS+=($!)
PORT=$AUTH ADMIN_PORT=$AUTH_ADMIN "$HOP" serve auth >"$WORK/auth.log" 2>&1 & PIDS+=($!)
PORT=$R1 "$HOP" serve redirect >"$WORK/r1.log" 2>&1 & R1_PID=$!; PIDS+=($R1_PID)
PORT=$R2 "$HOP" serve redirect >"$WORK/r2.log" 2>&1 & PIDS+=($!)
for g in "$G1" "$G2"; do
  PORT=$g LINKS_GRPC_URL="http://127.0.0.1:$LINKS" AUTH_GRPC_URL="http://127.0.0.1:$AUTH" \
    ANONYMOUS_LINKS=true TRUSTED_PROXIES=127.0.0.1/32 "$HOP" serve gateway >"$WORK/g$g.log" 2>&1 &
  PIDS+=($!)
done
G1_PID=${PIDS[4]}
for url in "http://127.0.0.1:$R1/health/ready" "http://127.0.0.1:$R2/health/ready" \
           "http://127.0.0.1:$G1/health/ready" "http://127.0.0.1:$G2/health/ready"; do
  wait_http "$url"
done

# The shipped configuration, with compose's names replaced by the local ports.
mkdir -p "$WORK/conf.d"
sed -e "s|^pid .*|pid $WORK/nginx.pid;|" infra/nginx/nginx.conf >"$WORK/nginx.conf"
sed -e "s|listen 80 |listen 127.0.0.1:$EDGE |" infra/nginx/conf.d/hop.conf >"$WORK/conf.d/hop.conf"
python3 - infra/nginx/conf.d/upstreams.conf "$WORK/conf.d/upstreams.conf" "$R1" "$R2" "$G1" "$G2" <<'EOF'
import re, sys
src, dst, r1, r2, g1, g2 = sys.argv[1:]
text = open(src).read()
def both(name, a, b):
    def repl(m):
        return "\n    ".join(f"server 127.0.0.1:{p}{m.group(1)}" for p in (a, b))
    return re.sub(rf"server {name}:\d+([^;]*;)", repl, text)
text = both("redirect", r1, r2)
text = re.sub(r"server gateway:\d+([^;]*;)", lambda m: "\n    ".join(f"server 127.0.0.1:{p}{m.group(1)}" for p in (g1, g2)), text)
assert "redirect:" not in text and "gateway:" not in text
open(dst, "w").write(text)
EOF
nginx -t -q -p "$WORK" -c "$WORK/nginx.conf"
nginx -p "$WORK" -c "$WORK/nginx.conf" 2>"$WORK/nginx.err" >"$WORK/nginx.out"
EDGE_URL="http://127.0.0.1:$EDGE"
wait_http "$EDGE_URL/nginx-health"
wait_http "$EDGE_URL/health/ready"

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

# load NAME URL SCRIPT PID-TO-KILL: 10 s of load, the process killed after 3 s.
load() {
  local name=$1 url=$2 script=$3 victim=$4 out total bad errors
  CODES_FILE=$WORK/codes.txt wrk -t1 -c32 -d10s -s "$script" "$url" >"$WORK/$name.wrk" 2>&1 &
  local wrk_pid=$!
  sleep 3
  { kill -9 "$victim"; wait "$victim"; } 2>/dev/null || true
  wait "$wrk_pid"
  out=$(cat "$WORK/$name.wrk")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out"); bad=${bad:-0}
  errors=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$out"); errors=${errors:-0}
  python3 - "$name" "$total" "$bad" "$errors" <<'EOF'
import sys
name, total, bad, errors = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
failed = bad + errors
share = failed / total if total else 1.0
print(f"  {name}: {total} requests, {failed} failed ({share:.4%}) with one upstream killed mid-run", file=sys.stderr)
if total < 1000 or share >= 0.001:
    sys.exit(f"{name}: {share:.4%} failed (limit 0.1%)")
EOF
}
load redirect "$EDGE_URL" bench/wrk/codes.lua "$R1_PID"
load gateway "$EDGE_URL" bench/wrk/read.lua "$G1_PID"
