#!/usr/bin/env bash
# hop's redirect and create benchmark, reproducible in one command:
#
#   scripts/bench.sh [--rounds N] [--duration SECS] [--connections C] [--only A,B,...]
#
# --only runs just the named scenarios (e.g. --only reference,l1-hit-bare,l1-hit-obs)
# and skips the stats and import measurements: for a quick, repeated comparison.
#
# In one run it starts the reference (bench/reference: a bare hyper server answering a
# constant 302) and hop's services from a release build, then measures with wrk (1 thread):
#
#   reference      the constant 302
#   l1-hit         hop's redirect service, every code in L1 (click recording off, as in
#                  the tier scenarios below: recording is measured on its own)
#   l1-off         L1 disabled: Redis on every request
#   caches-off     L1 disabled and Redis bypassed: Postgres on every request
#   create         POST /links through the gateway (HTTP -> gRPC -> Postgres + Redis)
#   create-auth    the same, as a logged-in user (token check, deny-list, rate limit)
#   read / read-auth   GET /links/{code} without and with a bearer token
#   login          POST /auth/login (argon2id-bound)
#   l1-hit-flood   redirect, L1 hit, measured while a login flood runs beside it
#   l1-hit-rec     redirect, L1 hit, recording every click (compare with l1-hit); the
#                  fold ratio (clicks per raw row) is printed after the table
#   l1-hit-obs     redirect, L1 hit, metrics on and traces exported to an OTLP sink at the
#                  default sampling (compare with l1-hit-bare: metrics and traces off)
#   up-sqlite-l1 / up-pg-l1         redirects through `hop up`'s one port, every code in
#                  L1: the embedded store (no DATABASE_URL, no REDIS_URL) and PostgreSQL +
#                  Redis, side by side
#   up-sqlite-l1off / up-pg-l1off   the same with L1 off: SQLite on every request, and
#                  Redis on every request
#   up-sqlite-create / up-pg-create POST /links through `hop up` (the gateway calls links
#                  in process) on each backend
#
# and, after the rounds, the embedded `hop up`'s RSS idle and after 1 million distinct
# codes (imported) were looked up with click recording on (`--only up-rss` for just that).
#
# After the rounds it generates 10 million clicks for one link and times its stats
# (GET /links/{code}/stats), and times `hop import` of a generated export.
#
# Each round measures every scenario once, reference first; the report gives, per scenario,
# the median requests/s and p99 over the rounds, and each redirect figure's ratio to the
# reference measured in the same round (median of the per-round ratios). The machine is
# shared and noisy, so compare ratios, not absolute numbers.
#
# Needs: wrk (Debian package `wrk`), psql, a PostgreSQL and Redis on the standard ports (or
# DATABASE_URL / REDIS_URL). Uses its own database schema and Redis key prefix and removes
# them at the end.
set -euo pipefail

ROUNDS=3
DURATION=10
CONNECTIONS=64
LINKS=10000
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --links) LINKS=$2; shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

RUN_ID=$(date +%s)
WORK=$(mktemp -d)
DB_BASE=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop_bench}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
export DATABASE_URL=$DB_BASE DATABASE_SCHEMA=bench_$RUN_ID REDIS_URL=$REDIS
export REDIS_KEY_PREFIX="hopbench:$RUN_ID:" SECRET_KEY=bench-secret-key-0123456789
export DATABASE_POOL_SIZE=${DATABASE_POOL_SIZE:-16}   # logs stay at the default level (info)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$DB_BASE" -qc "DROP SCHEMA IF EXISTS $DATABASE_SCHEMA CASCADE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "${REDIS_KEY_PREFIX}*" 2>/dev/null \
    | xargs -r -n 500 redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT


echo "building release binaries..." >&2
cargo build --release -q -p hop -p hop-reference --bins
HOP=target/release/hop
REF=target/release/hop-reference

"$HOP" migrate >/dev/null

REF_PORT=$(free_port); LINKS_PORT=$(free_port); LINKS_ADMIN=$(free_port); GW_PORT=$(free_port)
AUTH_PORT=$(free_port); AUTH_ADMIN=$(free_port)
R_L1=$(free_port); R_REDIS=$(free_port); R_PG=$(free_port); R_REC=$(free_port)
R_OBS=$(free_port); R_BARE=$(free_port); SINK_PORT=$(free_port)

"$REF" "$REF_PORT" 2>/dev/null & PIDS+=($!)
PORT=$LINKS_PORT ADMIN_PORT=$LINKS_ADMIN "$HOP" serve links >"$WORK/links.log" & PIDS+=($!)
PORT=$AUTH_PORT ADMIN_PORT=$AUTH_ADMIN "$HOP" serve auth >"$WORK/auth.log" & PIDS+=($!)
# Limits stay on (their counting is part of the work) but too high to trip; anonymous
# creates are allowed so the same call can be measured with and without a token.
HIGH=1000000000/60
PORT=$GW_PORT LINKS_GRPC_URL="http://127.0.0.1:$LINKS_PORT" AUTH_GRPC_URL="http://127.0.0.1:$AUTH_PORT" \
  ANONYMOUS_LINKS=true RATE_LIMIT_LOGIN_IP_EMAIL=$HIGH RATE_LIMIT_LOGIN_IP=$HIGH RATE_LIMIT_CREATE_USER=$HIGH \
  RATE_LIMIT_LOGIN_EMAIL=$HIGH RATE_LIMIT_CREATE_ANON_IP=$HIGH \
  "$HOP" serve gateway >"$WORK/gateway.log" & PIDS+=($!)
PORT=$R_L1 CACHE_L1_CAPACITY=$((LINKS * 2)) CLICKS_ENABLED=false "$HOP" serve redirect >"$WORK/r1.log" & PIDS+=($!)
PORT=$R_REC CACHE_L1_CAPACITY=$((LINKS * 2)) "$HOP" serve redirect >"$WORK/r4.log" & PIDS+=($!)
PORT=$R_REDIS CACHE_L1_ENABLED=false CLICKS_ENABLED=false "$HOP" serve redirect >"$WORK/r2.log" & PIDS+=($!)
target/release/otlp-sink "$SINK_PORT" >"$WORK/sink.out" 2>"$WORK/sink.log" & SINK_PID=$!; PIDS+=($SINK_PID)
PORT=$R_OBS CACHE_L1_CAPACITY=$((LINKS * 2)) CLICKS_ENABLED=false OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" \
  "$HOP" serve redirect >"$WORK/r5.log" & PIDS+=($!)
PORT=$R_BARE CACHE_L1_CAPACITY=$((LINKS * 2)) CLICKS_ENABLED=false METRICS_ENABLED=false \
  "$HOP" serve redirect >"$WORK/r6.log" & PIDS+=($!)
PORT=$R_PG CACHE_L1_ENABLED=false CACHE_REDIS_ENABLED=false CLICKS_ENABLED=false "$HOP" serve redirect >"$WORK/r3.log" & PIDS+=($!)
for url in "http://127.0.0.1:$REF_PORT/" "http://127.0.0.1:$GW_PORT/health/ready" "http://127.0.0.1:$AUTH_ADMIN/health/ready" \
           "http://127.0.0.1:$R_L1/health/ready" "http://127.0.0.1:$R_REDIS/health/ready" \
           "http://127.0.0.1:$R_PG/health/ready"; do
  wait_http "$url" || curl -s -o /dev/null "$url" || true
done

# Seed the links every redirect scenario draws from, through the real write path.
echo "seeding $LINKS links through the gateway..." >&2
python3 - "$GW_PORT" "$LINKS" <<'PY'
import json, sys, urllib.request, concurrent.futures
port, n = int(sys.argv[1]), int(sys.argv[2])
def create(i):
    body = json.dumps({"url": f"https://example.com/seed/{i}"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/links", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 201
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(create, range(n)))
PY
psql "$DB_BASE" -Atc "SELECT code FROM $DATABASE_SCHEMA.links" >"$WORK/codes.txt"
export CODES_FILE=$WORK/codes.txt

# One account for the authenticated scenarios.
export LOGIN_EMAIL=bench@example.com LOGIN_PASSWORD=bench-password-123
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$GW_PORT/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$LOGIN_EMAIL\",\"password\":\"$LOGIN_PASSWORD\"}"
BENCH_TOKEN=$(curl -fsS -X POST "http://127.0.0.1:$GW_PORT/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$LOGIN_EMAIL\",\"password\":\"$LOGIN_PASSWORD\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# hop up, embedded and on PostgreSQL + Redis, with and without L1. Each embedded instance
# has a data directory (and so a store) of its own, seeded through its own API.
UP_SQL=$(free_port); UP_SQL_NOL1=$(free_port); UP_PG=$(free_port); UP_PG_NOL1=$(free_port)
up_env=(ANONYMOUS_LINKS=true RATE_LIMIT_CREATE_ANON_IP=$HIGH CLICKS_ENABLED=false CACHE_L1_CAPACITY=$((LINKS * 2)))
# A command, not a function: `embedded … &` must leave hop's own pid in $! (for its RSS).
embedded=(env -u DATABASE_URL -u DATABASE_SCHEMA -u REDIS_URL -u REDIS_KEY_PREFIX)
"${embedded[@]}" PORT=$UP_SQL HOP_DATA_DIR="$WORK/up-sql" "${up_env[@]}" "$HOP" up >"$WORK/up-sql.log" & PIDS+=($!)
"${embedded[@]}" PORT=$UP_SQL_NOL1 HOP_DATA_DIR="$WORK/up-sql-nol1" "${up_env[@]}" CACHE_L1_ENABLED=false \
  "$HOP" up >"$WORK/up-sql-nol1.log" & PIDS+=($!)
env PORT=$UP_PG "${up_env[@]}" "$HOP" up >"$WORK/up-pg.log" & PIDS+=($!)
env PORT=$UP_PG_NOL1 "${up_env[@]}" CACHE_L1_ENABLED=false "$HOP" up >"$WORK/up-pg-nol1.log" & PIDS+=($!)
seed_up() { # PORT FILE: LINKS links through that hop up; their codes into FILE
  seed_links "http://127.0.0.1:$1" "$LINKS" up >"$2"
}
for port in $UP_SQL $UP_SQL_NOL1 $UP_PG $UP_PG_NOL1; do
  wait_http "http://127.0.0.1:$port/health/ready" || true
  seed_up "$port" "$WORK/codes-$port.txt"
  CODES_FILE="$WORK/codes-$port.txt" wrk -t1 -c"$CONNECTIONS" -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$port" >/dev/null
done

# Warm L1 on the L1 instances (every code once), so l1-hit measures hits.
wrk -t1 -c"$CONNECTIONS" -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$R_L1" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$R_REC" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$R_OBS" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$R_BARE" >/dev/null

# run NAME URL SCRIPT ROUND [CONNECTIONS] -> appends "name round rps p99_ms errors" to results
RESULTS=$WORK/results.txt
run() {
  local name=$1 url=$2 script=$3 round=$4 conns=${5:-$CONNECTIONS} out rps p99 bad
  if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then return 0; fi
  out=$(wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$script" "$url")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out"); bad=${bad:-0}
  # wrk prints latencies as 512.00us, 1.20ms or 1.02s; normalise to ms.
  p99=$(awk -v v="$p99" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }')
  echo "$name $round $rps $p99 $bad" >>"$RESULTS"
  printf '  %-11s round %s: %10.0f req/s  p99 %8.3f ms  errors %s\n' "$name" "$round" "$rps" "$p99" "$bad" >&2
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  run reference  "http://127.0.0.1:$REF_PORT" bench/wrk/codes.lua "$round"
  # Recording on and off back to back, in alternating order, so the background work one
  # leaves (Postgres writing the clicks) weighs on both alike.
  if [ $((round % 2)) = 1 ]; then
    run l1-hit     "http://127.0.0.1:$R_L1"  bench/wrk/codes.lua "$round"
    run l1-hit-rec "http://127.0.0.1:$R_REC" bench/wrk/codes.lua "$round"
  else
    run l1-hit-rec "http://127.0.0.1:$R_REC" bench/wrk/codes.lua "$round"
    run l1-hit     "http://127.0.0.1:$R_L1"  bench/wrk/codes.lua "$round"
  fi
  if [ $((round % 2)) = 1 ]; then
    run l1-hit-obs  "http://127.0.0.1:$R_OBS"  bench/wrk/codes.lua "$round"
    run l1-hit-bare "http://127.0.0.1:$R_BARE" bench/wrk/codes.lua "$round"
  else
    run l1-hit-bare "http://127.0.0.1:$R_BARE" bench/wrk/codes.lua "$round"
    run l1-hit-obs  "http://127.0.0.1:$R_OBS"  bench/wrk/codes.lua "$round"
  fi
  sleep 2
  run l1-off     "http://127.0.0.1:$R_REDIS"  bench/wrk/codes.lua "$round"
  run caches-off "http://127.0.0.1:$R_PG"     bench/wrk/codes.lua "$round"
  run create     "http://127.0.0.1:$GW_PORT"  bench/wrk/create.lua "$round"
  TOKEN=$BENCH_TOKEN run create-auth "http://127.0.0.1:$GW_PORT" bench/wrk/create.lua "$round"
  run read       "http://127.0.0.1:$GW_PORT"  bench/wrk/read.lua "$round"
  TOKEN=$BENCH_TOKEN run read-auth "http://127.0.0.1:$GW_PORT" bench/wrk/read.lua "$round"
  run login      "http://127.0.0.1:$GW_PORT"  bench/wrk/login.lua "$round" 16
  for mode in sqlite pg; do
    if [ "$mode" = sqlite ]; then l1=$UP_SQL; nol1=$UP_SQL_NOL1; else l1=$UP_PG; nol1=$UP_PG_NOL1; fi
    CODES_FILE="$WORK/codes-$l1.txt" run "up-$mode-l1" "http://127.0.0.1:$l1" bench/wrk/codes.lua "$round"
    CODES_FILE="$WORK/codes-$nol1.txt" run "up-$mode-l1off" "http://127.0.0.1:$nol1" bench/wrk/codes.lua "$round"
    run "up-$mode-create" "http://127.0.0.1:$l1" bench/wrk/create.lua "$round"
  done
  # A login flood beside the redirect measurement: argon2 must not starve redirects.
  if [ -z "$ONLY" ] || [[ "$ONLY" == *",l1-hit-flood,"* ]]; then
    wrk -t1 -c16 -d"$((DURATION + 2))s" -s bench/wrk/login.lua "http://127.0.0.1:$GW_PORT" >/dev/null & FLOOD=$!
    sleep 1
    run l1-hit-flood "http://127.0.0.1:$R_L1"   bench/wrk/codes.lua "$round"
    wait "$FLOOD" || true
  fi
done

# The embedded hop up's memory: idle (a fresh store), then after a million distinct codes
# (a generated export, imported) are looked up with click recording on.
rss() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
if [ -z "$ONLY" ] || [[ "$ONLY" == *",up-rss,"* ]]; then
  echo "measuring the embedded hop up's memory..." >&2
  mkdir -p "$WORK/million"
  python3 - "$WORK/million" "$WORK/million-codes.txt" <<'PY'
import csv, sys
out, codes = sys.argv[1], sys.argv[2]
alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
def code(i):
    s = ""
    for _ in range(6):
        i, r = divmod(i, 62); s += alphabet[r]
    return s
with open(f"{out}/seed-users.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "username", "email", "created_at"])
    w.writerow([1, "owner", "owner@import.example", "2025-01-01 00:00:00"])
with open(f"{out}/seed-urls.csv", "w", newline="") as f, open(codes, "w") as c:
    w = csv.writer(f); w.writerow(["id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at"])
    for i in range(1, 1000001):
        k = code(i * 7919 + 1000003)
        w.writerow([i, 1, k, f"https://example.com/m/{i}", "", "True", "2025-02-01 00:00:00", "2025-02-01 00:00:00"])
        c.write(k + "\n")
with open(f"{out}/seed-events.csv", "w", newline="") as f:
    csv.writer(f).writerow(["id", "url_id", "user_id", "event_type", "timestamp", "details"])
PY
  UP_IDLE=$(free_port)
  "${embedded[@]}" HOP_DATA_DIR="$WORK/up-million" "$HOP" import "$WORK/million" --no-progress >/dev/null 2>&1
  "${embedded[@]}" PORT=$UP_IDLE HOP_DATA_DIR="$WORK/up-idle" "$HOP" up >"$WORK/up-idle.log" & IDLE_PID=$!; PIDS+=($IDLE_PID)
  wait_http "http://127.0.0.1:$UP_IDLE/health/ready" || true
  sleep 3
  RSS_IDLE=$(rss "$IDLE_PID")
  UP_MILLION=$(free_port)
  "${embedded[@]}" PORT=$UP_MILLION HOP_DATA_DIR="$WORK/up-million" "$HOP" up >"$WORK/up-million.log" & MILLION_PID=$!; PIDS+=($MILLION_PID)
  wait_http "http://127.0.0.1:$UP_MILLION/health/ready" || true
  # Every code at least once (in file order), then at random, clicks recorded.
  python3 - "$UP_MILLION" "$WORK/million-codes.txt" <<'PY'
import sys, socket
port, path = int(sys.argv[1]), sys.argv[2]
codes = [l.strip() for l in open(path) if l.strip()]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
for k in codes:
    s.sendall(f"GET /{k} HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 Firefox/128.0\r\n\r\n".encode())
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
PY
  CODES_FILE="$WORK/million-codes.txt" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/wrk/codes.lua "http://127.0.0.1:$UP_MILLION" >/dev/null
  sleep 3
  RSS_MILLION=$(rss "$MILLION_PID")
fi

if [ -z "$ONLY" ]; then

# Stats for a link with 10 million clicks: generated in Postgres the way the click writer
# stores them (raw rows, then the rollups derived from them), then timed through the API.
echo "generating 10 million clicks for one link..." >&2
STATS_CODE=$(curl -fsS -X POST "http://127.0.0.1:$GW_PORT/links" -H "authorization: Bearer $BENCH_TOKEN" \
  -H 'content-type: application/json' -d '{"url":"https://example.com/popular"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
psql "$DB_BASE" -q <<SQL
SET search_path = $DATABASE_SCHEMA;
SET timezone = 'UTC';
INSERT INTO clicks (at, link_id, referrer_host, agent_class, country)
SELECT now() - (g % 31536000) * interval '1 second',
       (SELECT id FROM links WHERE code = '$STATS_CODE'),
       (ARRAY[NULL, 'news.example.org', 'mail.example.net', 'social.example.com'])[1 + g % 4],
       (ARRAY['mobile', 'desktop', 'desktop', 'bot', 'other'])[1 + g % 5],
       NULL
FROM generate_series(1, 10000000) AS g;
INSERT INTO click_counts (link_id, bucket, agent_class, clicks)
SELECT link_id, date_trunc('hour', at), agent_class, sum(clicks) FROM clicks
WHERE link_id = (SELECT id FROM links WHERE code = '$STATS_CODE') GROUP BY 1, 2, 3
ON CONFLICT (link_id, bucket, agent_class) DO UPDATE SET clicks = click_counts.clicks + EXCLUDED.clicks;
INSERT INTO click_referrers (link_id, day, referrer_host, is_bot, clicks)
SELECT link_id, at::date, referrer_host, agent_class = 'bot', sum(clicks) FROM clicks
WHERE link_id = (SELECT id FROM links WHERE code = '$STATS_CODE') AND referrer_host IS NOT NULL GROUP BY 1, 2, 3, 4
ON CONFLICT (link_id, day, referrer_host, is_bot) DO UPDATE SET clicks = click_referrers.clicks + EXCLUDED.clicks;
ANALYZE click_counts; ANALYZE click_referrers;
SQL
YEAR_AGO=$(date -u -d '365 days ago' +%Y-%m-%dT%H:%M:%SZ)
MONTH_AGO=$(date -u -d '30 days ago' +%Y-%m-%dT%H:%M:%SZ)
STATS_RESULTS=$WORK/stats.txt
for query in "" "?from=$YEAR_AGO&unit=day&include_bots=true" "?from=$MONTH_AGO&unit=hour"; do
  for _ in $(seq 1 30); do
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $BENCH_TOKEN" \
      "http://127.0.0.1:$GW_PORT/links/$STATS_CODE/stats$query"
  done | python3 -c "import sys, statistics; t = sorted(float(x) * 1000 for x in sys.stdin); print(f'| stats {sys.argv[1]!r} | {statistics.median(t):.1f} | {t[int(len(t) * 0.95) - 1]:.1f} |')" "${query:-last 7 days by day}" >>"$STATS_RESULTS"
done
TOTAL=$(curl -fsS -H "authorization: Bearer $BENCH_TOKEN" "http://127.0.0.1:$GW_PORT/links/$STATS_CODE/stats?from=$YEAR_AGO&unit=day&include_bots=true" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')

# Import throughput: a generated export of 10k users, 100k links and 200k events.
echo "timing hop import..." >&2
mkdir -p "$WORK/export"
python3 - "$WORK/export" <<'PY'
import csv, random, string, sys
out = sys.argv[1]
random.seed(7)
alphabet = string.ascii_letters + string.digits
with open(f"{out}/seed-users.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "username", "email", "created_at"])
    for i in range(1, 10001):
        w.writerow([i, f"user{i}", f"user{i}@import.example", "2025-01-01 00:00:00"])
codes = set()
with open(f"{out}/seed-urls.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at"])
    for i in range(1, 100001):
        code = "".join(random.choice(alphabet) for _ in range(6))
        while code in codes:
            code = "".join(random.choice(alphabet) for _ in range(6))
        codes.add(code)
        w.writerow([i, random.randint(1, 10000), code, f"https://example.com/imported/{i}", f"Link {i}", "True", "2025-02-01 00:00:00", "2025-02-02 00:00:00"])
with open(f"{out}/seed-events.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "url_id", "user_id", "event_type", "timestamp", "details"])
    for i in range(1, 200001):
        kind = "click" if i % 2 else "created"
        w.writerow([i, random.randint(1, 100000), "" if kind == "click" else random.randint(1, 10000), kind, "2025-03-01 12:00:00", "{}"])
PY
IMPORT_REPORT=$("$HOP" import "$WORK/export" --no-progress 2>&1 >/dev/null | tail -n 1)
fi

python3 - "$RESULTS" "$ROUNDS" "$DURATION" "$CONNECTIONS" <<'PY'
import statistics, sys, collections, datetime, os, platform
path, rounds, duration, conns = sys.argv[1], *sys.argv[2:]
rows = collections.defaultdict(dict)
for line in open(path):
    name, rnd, rps, p99, bad = line.split()
    rows[name][int(rnd)] = (float(rps), float(p99), int(bad))
ref = rows["reference"]
targets = {"l1-hit": 0.85, "l1-off": 0.40, "caches-off": 0.15,
           "up-sqlite-l1": 0.90, "up-pg-l1": 0.90, "up-sqlite-l1off": 0.50, "up-pg-l1off": 0.40}
pairs = {"create-auth": "create", "read-auth": "read", "l1-hit-rec": "l1-hit", "l1-hit-obs": "l1-hit-bare",
         "up-sqlite-create": "up-pg-create"}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"hop benchmark, {datetime.date.today()}, {os.cpu_count()} cores ({cpu}), wrk -t1 -c{conns} -d{duration}s, {rounds} rounds, medians")
print()
print("| scenario | requests/s | p99 (ms) | ratio to reference | target | errors |")
print("|---|---:|---:|---:|---|---:|")
pair_targets = {"l1-hit-obs": 0.95, "up-sqlite-create": 1.00}
for name in ["reference", "l1-hit", "l1-hit-rec", "l1-hit-bare", "l1-hit-obs", "l1-off", "caches-off", "create", "create-auth", "read", "read-auth", "login", "l1-hit-flood",
             "up-sqlite-l1", "up-pg-l1", "up-sqlite-l1off", "up-pg-l1off", "up-pg-create", "up-sqlite-create"]:
    if name not in rows or (name in pairs and pairs[name] not in rows):
        continue
    r = rows[name]
    rps = statistics.median(v[0] for v in r.values())
    p99 = statistics.median(v[1] for v in r.values())
    bad = sum(v[2] for v in r.values())
    if name in targets:
        ratio = statistics.median(r[k][0] / ref[k][0] for k in r)
        verdict = "met" if ratio >= targets[name] else "MISSED"
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | {ratio:.2f} | ≥ {targets[name]:.2f} ({verdict}) | {bad} |")
    elif name == "create":
        verdict = "met" if rps >= 5000 else "MISSED"
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | n/a | ≥ 5,000/s ({verdict}) | {bad} |")
    elif name in pairs:
        base = rows[pairs[name]]
        ratio = statistics.median(r[k][0] / base[k][0] for k in r)
        target = pair_targets.get(name, 0.90)
        verdict = "met" if ratio >= target else "MISSED"
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | {ratio:.2f} of {pairs[name]} | ≥ {target:.2f} ({verdict}) | {bad} |")
    elif name == "l1-hit-flood" and "l1-hit" in rows:
        alone = statistics.median(v[1] for v in rows["l1-hit"].values())
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | p99 {p99 / alone:.1f}× l1-hit alone | | {bad} |")
    elif name == "l1-hit-bare":
        ratio = statistics.median(r[k][0] / ref[k][0] for k in r)
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | {ratio:.2f} | | {bad} |")
    elif name in ("read", "up-pg-create"):
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | n/a | | {bad} |")
    elif name == "login":
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | n/a | argon2id-bound (16 connections) | {bad} |")
    else:
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | 1.00 | | {bad} |")
PY

if [ -n "${RSS_IDLE:-}" ]; then
  echo
  echo "| embedded hop up memory | RSS (MiB) | target |"
  echo "|---|---:|---|"
  echo "| idle, empty store | $RSS_IDLE | < 40 |"
  echo "| after 1,000,000 distinct codes looked up, clicks on | $RSS_MILLION | < 128 |"
fi
if [ -z "$ONLY" ]; then
  echo
  echo "| stats of a link with $TOTAL clicks | median (ms) | p95 (ms) |"
  echo "|---|---:|---:|"
  cat "$STATS_RESULTS"
  echo
  echo "import: $IMPORT_REPORT"
fi
kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null || true
echo "traces: the l1-hit-obs instance exported $(cut -d= -f2 "$WORK/sink.out" 2>/dev/null || echo '?') spans (L1 hits make none)"
# How far the click writer folded identical clicks (same second, link and visitor kind).
curl -fsS "http://127.0.0.1:$R_REC/metrics" 2>/dev/null | awk '
  /^hop_clicks_written_total[{ ]/ {c += $NF} /^hop_click_rows_written_total[{ ]/ {r += $NF}
  END {if (r > 0) printf "clicks: the l1-hit-rec instance wrote %d clicks as %d raw rows (%.1f clicks a row)\n", c, r, c / r}'
