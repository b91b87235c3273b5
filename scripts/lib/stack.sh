# shellcheck shell=bash
# Shared by scripts/check-edge.sh and scripts/load.sh: hop as separate processes behind
# the real nginx with the shipped configuration, all on 127.0.0.1. Source it, then:
#
#   stack_init WORKDIR          own schema and Redis prefix; applies the migrations
#   stack_start_services        links, auth, redirect ×2, gateway ×2 (extra settings
#                               through the environment, e.g. ANONYMOUS_LINKS=true;
#                               STACK_TWO_OF_EACH=1 adds a second links and auth, which
#                               the second gateway calls)
#   stack_start_nginx           nginx in front; sets EDGE_URL
#   stack_cleanup               stops everything, drops the schema and the Redis keys
#
# Needs HOP (the binary), nginx, psql and redis-cli.

# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

STACK_PIDS=()

stack_init() {
  STACK_WORK=$1
  export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop_test}
  export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
  DATABASE_SCHEMA="stack_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  export DATABASE_SCHEMA
  export REDIS_KEY_PREFIX="$DATABASE_SCHEMA:"
  export SECRET_KEY=${SECRET_KEY:-stack-secret-key-0123456789}
  export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://localhost}
  export LOG_LEVEL=${LOG_LEVEL:-warn}
  "$HOP" migrate >/dev/null
}

stack_start_services() {
  LINKS_PORT=$(free_port); LINKS_ADMIN=$(free_port); AUTH_PORT=$(free_port); AUTH_ADMIN=$(free_port)
  R1=$(free_port); R2=$(free_port); G1=$(free_port); G2=$(free_port)
  PORT=$LINKS_PORT ADMIN_PORT=$LINKS_ADMIN "$HOP" serve links >"$STACK_WORK/links.log" 2>&1 &
  STACK_PIDS+=($!)
  PORT=$AUTH_PORT ADMIN_PORT=$AUTH_ADMIN "$HOP" serve auth >"$STACK_WORK/auth.log" 2>&1 &
  STACK_PIDS+=($!)
  # STACK_TWO_OF_EACH=1: a second links and auth too, which the second gateway calls.
  local links2=$LINKS_PORT auth2=$AUTH_PORT admins=("$LINKS_ADMIN" "$AUTH_ADMIN") url admin
  if [ "${STACK_TWO_OF_EACH:-0}" = 1 ]; then
    links2=$(free_port); auth2=$(free_port)
    admins+=("$(free_port)" "$(free_port)")
    PORT=$links2 ADMIN_PORT=${admins[2]} "$HOP" serve links >"$STACK_WORK/links-2.log" 2>&1 &
    STACK_PIDS+=($!)
    PORT=$auth2 ADMIN_PORT=${admins[3]} "$HOP" serve auth >"$STACK_WORK/auth-2.log" 2>&1 &
    STACK_PIDS+=($!)
  fi
  # The gateways start once links and auth serve, so their first calls find them.
  for admin in "${admins[@]}"; do
    wait_http "http://127.0.0.1:$admin/health/ready"
  done
  PORT=$R1 "$HOP" serve redirect >"$STACK_WORK/redirect-1.log" 2>&1 &
  R1_PID=$!; STACK_PIDS+=("$R1_PID")
  PORT=$R2 "$HOP" serve redirect >"$STACK_WORK/redirect-2.log" 2>&1 &
  STACK_PIDS+=($!)
  PORT=$G1 LINKS_GRPC_URL="http://127.0.0.1:$LINKS_PORT" AUTH_GRPC_URL="http://127.0.0.1:$AUTH_PORT" \
    TRUSTED_PROXIES=127.0.0.1/32 "$HOP" serve gateway >"$STACK_WORK/gateway-1.log" 2>&1 &
  G1_PID=$!; STACK_PIDS+=("$G1_PID")
  PORT=$G2 LINKS_GRPC_URL="http://127.0.0.1:$links2" AUTH_GRPC_URL="http://127.0.0.1:$auth2" \
    TRUSTED_PROXIES=127.0.0.1/32 "$HOP" serve gateway >"$STACK_WORK/gateway-2.log" 2>&1 &
  STACK_PIDS+=($!)
  for url in "http://127.0.0.1:$R1/health/ready" "http://127.0.0.1:$R2/health/ready" \
             "http://127.0.0.1:$G1/health/ready" "http://127.0.0.1:$G2/health/ready"; do
    wait_http "$url"
  done
}

# The shipped configuration; only what exists inside compose alone is replaced: the
# upstream host names become the local processes' ports, and the listen port a free one.
stack_start_nginx() {
  local edge
  edge=$(free_port)
  mkdir -p "$STACK_WORK/nginx/conf.d"
  sed -e "s|^pid .*|pid $STACK_WORK/nginx/nginx.pid;|" infra/nginx/nginx.conf >"$STACK_WORK/nginx/nginx.conf"
  sed -e "s|listen 80 |listen 127.0.0.1:$edge |" infra/nginx/conf.d/hop.conf >"$STACK_WORK/nginx/conf.d/hop.conf"
  python3 - infra/nginx/conf.d/upstreams.conf "$STACK_WORK/nginx/conf.d/upstreams.conf" "$R1" "$R2" "$G1" "$G2" <<'PY'
import re, sys
src, dst, r1, r2, g1, g2 = sys.argv[1:]
text = open(src).read()
for name, ports in (("redirect", (r1, r2)), ("gateway", (g1, g2))):
    text = re.sub(rf"server {name}:\d+([^;]*;)",
                  lambda m: "\n    ".join(f"server 127.0.0.1:{p}{m.group(1)}" for p in ports), text)
assert "redirect:" not in text and "gateway:" not in text
open(dst, "w").write(text)
PY
  nginx -t -q -p "$STACK_WORK/nginx" -c "$STACK_WORK/nginx/nginx.conf"
  nginx -p "$STACK_WORK/nginx" -c "$STACK_WORK/nginx/nginx.conf" 2>"$STACK_WORK/nginx.err" >"$STACK_WORK/nginx.out"
  EDGE_URL="http://127.0.0.1:$edge"
  wait_http "$EDGE_URL/nginx-health"
  wait_http "$EDGE_URL/health/ready"
}

stack_cleanup() {
  if [ -n "${STACK_WORK:-}" ] && [ -f "$STACK_WORK/nginx/nginx.pid" ]; then
    kill "$(cat "$STACK_WORK/nginx/nginx.pid")" 2>/dev/null || true
  fi
  local pid
  for pid in "${STACK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STACK_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${DATABASE_SCHEMA:-}" ]; then
    psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $DATABASE_SCHEMA CASCADE" >/dev/null 2>&1 || true
    redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_KEY_PREFIX*" 2>/dev/null \
      | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  STACK_PIDS=()
}
