# shellcheck shell=bash
# Helpers every script shares. Source it from the repository root:
#
#   . scripts/lib/common.sh
#
#   free_port             a free TCP port on 127.0.0.1
#   answers PORT          whether something accepts connections on 127.0.0.1:PORT
#   wait_http URL [SECS]  waits (default 30 s) until URL answers 2xx; fails otherwise

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
