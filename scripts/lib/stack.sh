# shellcheck shell=bash
# Shared by scripts/check-edge.sh and scripts/load.sh: hop as separate processes behind
# the real nginx with the shipped configuration, all on 127.0.0.1. Source it, then:
#
#   stack_init WORKDIR          own schema and Redis prefix; applies the migrations
#   stack_start_services        links, auth, redirect ×2, gateway ×2 (extra settings
#                               through the environment, e.g. ANONYMOUS_LINKS=true;
#                               STACK_TWO_OF_EACH=1 adds a second links and auth, and
#                               both gateways then call the pairs through a TCP balancer
#                               (nginx stream), as they would a Kubernetes Service)
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
  # shellcheck disable=SC2034 # LINKS_PID, AUTH_PID, G1_PID: for the scripts that kill them
  LINKS_PID=${STACK_PIDS[-2]}
  # shellcheck disable=SC2034
  AUTH_PID=${STACK_PIDS[-1]}
  # What the gateways call: the one links and auth, or, with STACK_TWO_OF_EACH=1, a TCP
  # balancer in front of two of each (STACK_LINKS_URL, STACK_AUTH_URL).
  STACK_LINKS_URL="http://127.0.0.1:$LINKS_PORT" STACK_AUTH_URL="http://127.0.0.1:$AUTH_PORT"
  local admins=("$LINKS_ADMIN" "$AUTH_ADMIN") url admin
  if [ "${STACK_TWO_OF_EACH:-0}" = 1 ]; then
    LINKS2_PORT=$(free_port); AUTH2_PORT=$(free_port)
    admins+=("$(free_port)" "$(free_port)")
    LINKS2_ADMIN=${admins[2]} AUTH2_ADMIN=${admins[3]}
    PORT=$LINKS2_PORT ADMIN_PORT=$LINKS2_ADMIN "$HOP" serve links >"$STACK_WORK/links-2.log" 2>&1 &
    LINKS2_PID=$!; STACK_PIDS+=("$LINKS2_PID")
    PORT=$AUTH2_PORT ADMIN_PORT=$AUTH2_ADMIN "$HOP" serve auth >"$STACK_WORK/auth-2.log" 2>&1 &
    AUTH2_PID=$!; STACK_PIDS+=("$AUTH2_PID")
    stack_start_grpc_balancer
  fi
  # The gateways start once links and auth serve, so their first calls find them.
  for admin in "${admins[@]}"; do
    wait_http "http://127.0.0.1:$admin/health/ready"
  done
  PORT=$R1 "$HOP" serve redirect >"$STACK_WORK/redirect-1.log" 2>&1 &
  R1_PID=$!; STACK_PIDS+=("$R1_PID")
  PORT=$R2 "$HOP" serve redirect >"$STACK_WORK/redirect-2.log" 2>&1 &
  STACK_PIDS+=($!)
  stack_start_gateway "$G1" 1
  # shellcheck disable=SC2034
  G1_PID=$STACK_LAST_PID
  stack_start_gateway "$G2" 2
  for url in "http://127.0.0.1:$R1/health/ready" "http://127.0.0.1:$R2/health/ready" \
             "http://127.0.0.1:$G1/health/ready" "http://127.0.0.1:$G2/health/ready"; do
    wait_http "$url"
  done
}

# stack_start_gateway PORT N: gateway N on PORT, calling STACK_LINKS_URL and STACK_AUTH_URL
# (its pid in STACK_LAST_PID; its log appended to, so a restarted one keeps its history).
stack_start_gateway() {
  PORT=$1 LINKS_GRPC_URL=$STACK_LINKS_URL AUTH_GRPC_URL=$STACK_AUTH_URL \
    TRUSTED_PROXIES=127.0.0.1/32 "$HOP" serve gateway >>"$STACK_WORK/gateway-$2.log" 2>&1 &
  STACK_LAST_PID=$!; STACK_PIDS+=("$STACK_LAST_PID")
}

# Two links and two auth behind one address each, balanced per connection by nginx's
# stream module: what a Kubernetes Service (kube-proxy) or an L4 load balancer gives a
# gateway. An instance that refuses a connection is skipped (and left out for 5 s); a
# gateway whose connection dies with its instance reconnects through the balancer to the
# other. Needs nginx's stream module (Debian: libnginx-mod-stream).
stack_start_grpc_balancer() {
  local module links_lb auth_lb
  module=$(ls /usr/lib/nginx/modules/ngx_stream_module.so 2>/dev/null || true)
  if ! nginx -V 2>&1 | grep -q -- '--with-stream ' && [ -z "$module" ]; then
    echo "nginx has no stream module: apt-get install libnginx-mod-stream" >&2
    return 1
  fi
  links_lb=$(free_port); auth_lb=$(free_port)
  mkdir -p "$STACK_WORK/grpc-lb"
  {
    [ -n "$module" ] && echo "load_module $module;"
    cat <<CONF
pid $STACK_WORK/grpc-lb/nginx.pid;
error_log $STACK_WORK/grpc-lb/error.log warn;
events { worker_connections 4096; }
stream {
  upstream links { server 127.0.0.1:$LINKS_PORT max_fails=1 fail_timeout=5s; server 127.0.0.1:$LINKS2_PORT max_fails=1 fail_timeout=5s; }
  upstream auth { server 127.0.0.1:$AUTH_PORT max_fails=1 fail_timeout=5s; server 127.0.0.1:$AUTH2_PORT max_fails=1 fail_timeout=5s; }
  server { listen 127.0.0.1:$links_lb; proxy_pass links; proxy_connect_timeout 1s; }
  server { listen 127.0.0.1:$auth_lb; proxy_pass auth; proxy_connect_timeout 1s; }
}
CONF
  } >"$STACK_WORK/grpc-lb/nginx.conf"
  nginx -t -q -p "$STACK_WORK/grpc-lb" -c "$STACK_WORK/grpc-lb/nginx.conf"
  nginx -p "$STACK_WORK/grpc-lb" -c "$STACK_WORK/grpc-lb/nginx.conf" 2>>"$STACK_WORK/grpc-lb/error.log"
  STACK_LINKS_URL="http://127.0.0.1:$links_lb" STACK_AUTH_URL="http://127.0.0.1:$auth_lb"
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
  local pidfile
  for pidfile in "${STACK_WORK:-/nonexistent}/nginx/nginx.pid" "${STACK_WORK:-/nonexistent}/grpc-lb/nginx.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
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
