# shellcheck shell=bash
# Helpers every script shares. Source it from the repository root:
#
#   . scripts/lib/common.sh
#
#   free_port             a free TCP port on 127.0.0.1
#   answers PORT          whether something accepts connections on 127.0.0.1:PORT
#   wait_http URL [SECS]  waits (default 30 s) until URL answers 2xx; fails otherwise
#   with_scratch          sets WORK to a new temporary directory and an EXIT trap that
#                         stops HOP_PID (when set) and removes WORK
#   hop_up_embedded BIN [VAR=VALUE ...]
#                         starts `BIN up` on the embedded store in $WORK/data (no
#                         PostgreSQL, no Redis) on a free port with the settings given,
#                         logging to $WORK/hop.log; sets PORT, BASE and HOP_PID and waits
#                         until it is ready (printing its log if it never is)
#   redis_cluster DIR     starts a Redis Cluster of three masters and three replicas
#                         (redis-server --cluster-enabled, redis-cli --cluster create) in
#                         DIR on free ports at or below 55535, waits until every slot is
#                         served and every replica synced, and prints its REDIS_URL
#                         (redis-cluster://...); redis_cluster_stop DIR kills it

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() {
  local tries=$(( ${2:-30} * 10 )) _
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

with_scratch() {
  WORK=$(mktemp -d)
  HOP_PID=""
  trap 'if [ -n "$HOP_PID" ]; then kill "$HOP_PID" 2>/dev/null || true; wait "$HOP_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
}

hop_up_embedded() {
  local bin=$1
  shift
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  env -u DATABASE_URL -u DATABASE_HOST -u REDIS_URL \
    PORT="$PORT" HOP_DATA_DIR="$WORK/data" LOG_LEVEL=warn "$@" \
    "$bin" up >"$WORK/hop.log" 2>&1 &
  HOP_PID=$!
  wait_http "$BASE/health/ready" 60 || { cat "$WORK/hop.log" >&2; return 1; }
}

# Ports whose cluster bus port (+10000) is free too: N of them, at or below 55535.
cluster_ports() {
  python3 - "$1" <<'EOF'
import random, socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randint(20000, 55535)
    if p not in ports and free(p) and free(p + 10000):
        ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

redis_cluster() {
  local dir=$1 port ports nodes=() url _
  mkdir -p "$dir"
  read -r -a ports <<<"$(cluster_ports 6)"
  for port in "${ports[@]}"; do
    mkdir -p "$dir/$port"
    redis_cluster_node "$dir" "$port"
    nodes+=("127.0.0.1:$port")
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do answers "$port" && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; return 1; }
  redis_cluster_wait "$dir"
  url="redis-cluster://${nodes[0]}"
  local sep='?'
  for port in "${nodes[@]:1}"; do url="$url${sep}node=$port"; sep='&'; done
  echo "$url"
}

# redis_cluster_node DIR PORT: one node of DIR's cluster (its nodes.conf in DIR/PORT).
redis_cluster_node() {
  redis-server --bind 127.0.0.1 --port "$2" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout 1500 --save "" --appendonly no \
    --dir "$1/$2" --logfile "$1/$2.log" >/dev/null 2>&1 &
  echo $! >>"$1/pids"
}

# redis_cluster_wait DIR: until every slot is served and every replica is in sync.
redis_cluster_wait() {
  local port ok=0 _
  for _ in $(seq 1 300); do
    ok=1
    for port in $(redis_cluster_ports "$1"); do
      local info role
      info=$(redis-cli -p "$port" cluster info 2>/dev/null)
      role=$(redis-cli -p "$port" info replication 2>/dev/null)
      case "$info" in *cluster_state:ok*cluster_slots_ok:16384*) ;; *) ok=0 ;; esac
      case "$role" in *role:slave*) case "$role" in *master_link_status:up*) ;; *) ok=0 ;; esac ;; esac
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "the Redis Cluster in $1 never became ready" >&2; return 1; }
}

redis_cluster_ports() { find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | grep -E '^[0-9]+$' | sort -n; }

# redis_cluster_restart DIR: starts again, on its port and from its nodes.conf, every node
# of DIR's cluster that is down (a killed master comes back as a replica), then waits.
redis_cluster_restart() {
  local port _
  for port in $(redis_cluster_ports "$1"); do
    answers "$port" || redis_cluster_node "$1" "$port"
  done
  for port in $(redis_cluster_ports "$1"); do
    for _ in $(seq 1 100); do answers "$port" && break; sleep 0.1; done
  done
  redis_cluster_wait "$1"
}

redis_cluster_stop() {
  [ -f "$1/pids" ] || return 0
  xargs -r kill <"$1/pids" 2>/dev/null || true
  rm -f "$1/pids"
}

# seed_links BASE N TAG: creates N anonymous links through BASE's POST /links (16 at a
# time; the target must allow anonymous creates and not limit them), to
# https://example.com/TAG/<i>; prints their codes, one a line.
seed_links() {
  python3 - "$1" "$2" "$3" <<'PY'
import concurrent.futures, json, sys, urllib.request
base, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def create(i):
    body = json.dumps({"url": f"https://example.com/{tag}/{i}"}).encode()
    req = urllib.request.Request(f"{base}/links", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["code"]
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    print("\n".join(pool.map(create, range(n))))
PY
}
