#!/usr/bin/env bash
# `hop import` at scale (issue 13, item 3):
#
#   scripts/bench-import.sh [--links N] [--server shared|tuned|both]
#
# Generates an export of 10,000 users, N links (default 10,000,000) and N events (half
# clicks) with scripts/gen-export.py, then imports it twice into an empty schema with the
# release binary under /usr/bin/time: the first run's new rows per second, wall time and
# peak RSS, each phase's duration (from the `import_phase` log lines), and the second
# run, which must add nothing.
#
# --server says which PostgreSQL:
#   shared  the one on 127.0.0.1:5432 (or DATABASE_URL), as it is configured;
#   tuned   a throwaway cluster of the script's own (initdb), configured for a bulk load
#           of this size: shared_buffers 2 GB (the indexes being filled fit in it),
#           max_wal_size 16 GB (no checkpoint in the middle of the load), fsync on;
#   both    (the default) one after the other.
#
# Targets: >= 100,000 new rows/s and < 256 MiB peak RSS for 10M links.
# Needs: cargo build --release -p hop, python3, psql, and for `tuned` the PostgreSQL
# binaries (initdb, pg_ctl). Uses its own schema (or cluster) and removes it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

LINKS=10000000
SERVER=both
while [ $# -gt 0 ]; do
  case "$1" in
    --links) LINKS=$2; shift 2 ;;
    --server) SERVER=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
HOP=target/release/hop
[ -x "$HOP" ] || { echo "$HOP is missing: cargo build --release -p hop" >&2; exit 1; }

WORK=$(mktemp -d)
CLUSTER=""
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_BIN=${PG_BIN:-$(dirname "$(command -v pg_ctl || echo /usr/bin/pg_ctl)")}
cleanup() {
  if [ -n "$CLUSTER" ]; then as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating an export of $LINKS links and $LINKS events..."
mkdir -p "$WORK/export"
python3 scripts/gen-export.py "$WORK/export" "$LINKS"
du -sh "$WORK/export" | sed 's/^/  export size: /'

# One import of the export into schema $2 of database URL $1, reported.
import_once() {
  local url=$1 schema=$2 label=$3 log="$WORK/$3.log"
  DATABASE_URL=$url DATABASE_SCHEMA=$schema /usr/bin/time -v "$HOP" import "$WORK/export" --no-progress >"$log" 2>&1 || {
    cat "$log" >&2; return 1; }
  grep -E '^imported ' "$log" | sed "s/^/  $label: /"
  grep -E 'Elapsed \(wall|Maximum resident' "$log" | sed -E "s/^\s+/  $label: /"
  python3 - "$log" "$label" <<'EOF'
import json, sys
from datetime import datetime
phases = []
for line in open(sys.argv[1]):
    if '"import_phase"' in line:
        event = json.loads(line)
        phases.append((datetime.fromisoformat(event["ts"].replace("Z", "+00:00")), event["phase"]))
for (start, name), (end, _) in zip(phases, phases[1:]):
    print(f"  {sys.argv[2]}:   {name:<16} {(end - start).total_seconds():7.1f} s")
EOF
}

run_on() {
  local url=$1 what=$2 schema
  schema=$(python3 -c 'import secrets; print("bench_import_" + secrets.token_hex(4))')
  echo "PostgreSQL: $what"
  psql "$url" -Atc "SELECT 'shared_buffers ' || current_setting('shared_buffers') || ', max_wal_size ' || current_setting('max_wal_size') || ', fsync ' || current_setting('fsync')" | sed 's/^/  /'
  import_once "$url" "$schema" "first run"
  import_once "$url" "$schema" "second run"
  psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
}

if [ "$SERVER" = shared ] || [ "$SERVER" = both ]; then
  SHARED=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop}
  # A fresh machine's server has no database `hop` yet: made here (the script drops only
  # its own schema in it).
  if [ -z "${DATABASE_URL:-}" ] && ! psql "$SHARED" -qc "SELECT 1" >/dev/null 2>&1; then
    psql postgres://postgres@127.0.0.1:5432/postgres -qc "CREATE DATABASE hop" >/dev/null
  fi
  run_on "$SHARED" "shared ($SHARED)"
fi
if [ "$SERVER" = tuned ] || [ "$SERVER" = both ]; then
  CLUSTER="$WORK/pg"
  mkdir -p "$CLUSTER"
  [ "$(id -u)" = 0 ] && chown postgres "$WORK" "$CLUSTER"
  port=$(free_port)
  as_postgres "$PG_BIN/initdb" -D "$CLUSTER/data" -A trust -U postgres >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/log" -w -o "-p $port -k $CLUSTER \
    -c listen_addresses=127.0.0.1 -c shared_buffers=2GB -c max_wal_size=16GB \
    -c checkpoint_timeout=30min" start >/dev/null
  psql "postgres://postgres@127.0.0.1:$port/postgres" -qc "CREATE DATABASE hop" >/dev/null
  run_on "postgres://postgres@127.0.0.1:$port/hop" "tuned (a throwaway cluster)"
fi
