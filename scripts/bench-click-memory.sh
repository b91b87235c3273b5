#!/usr/bin/env bash
# The redirect service's memory with click recording on and off (issue 12, item 9):
#
#   scripts/bench-click-memory.sh [--links N] [--connections C] [--long-every K] [--modes "on off"]
#
# It seeds N links (default 1,000,000) straight into the links table of a schema of its
# own, then, once per mode, starts one `hop serve redirect` with the default cache and
# click settings (CLICKS_ENABLED=true for "on", false for "off") and walks every code
# twice in order with wrk (1 thread, C connections, default 32): every lookup misses L1 on
# the first pass and goes to Postgres (then Redis); the second pass goes through the
# caches again. Each request carries a ~200-byte User-Agent (one of four real ones) and a
# Referer; one request in K (default 100) carries an 8 KiB User-Agent instead, which a
# click must not keep whole. After the walk it waits for the click writer to write what
# it took, then reads the process's VmRSS and VmHWM (the peak) from /proc and the click
# counters from /metrics, and stops the instance.
#
# The report gives, per mode: redirects answered, long-header requests, clicks recorded
# and dropped, RSS when ready, after each pass and after the flush, and the peak, in MiB;
# then the ratio of recording on to off. The target is a peak under 128 MiB with
# recording on.
#
# Each mode has its own Redis key prefix, so both start from the same cold caches.
# Settings in the environment reach the redirect instances (for diagnosis, e.g.
# CACHE_L1_CAPACITY=1000 or _RJEM_MALLOC_CONF=...); the report prints the ones in effect.
#
# Needs: a release build (cargo build --release -p hop), wrk (Debian package `wrk`), psql,
# redis-cli, curl, a PostgreSQL and Redis on the standard ports (or DATABASE_URL /
# REDIS_URL; the database `hop` is created when missing). Uses its own database schema and
# Redis key prefix and removes them at the end. Takes about 3 minutes per mode at 1M links.
set -euo pipefail

LINKS=1000000
CONNECTIONS=32
LONG_EVERY=100
MODES="on off"
while [ $# -gt 0 ]; do
  case "$1" in
    --links) LINKS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --long-every) LONG_EVERY=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ "$LINKS" =~ ^[1-9][0-9]*$ ]] || { echo "--links must be a positive number" >&2; exit 2; }
[[ "$LONG_EVERY" =~ ^[0-9]+$ ]] || { echo "--long-every must be a number (0: none)" >&2; exit 2; }

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
HOP=target/release/hop
for tool in wrk psql redis-cli curl timeout; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[ -x "$HOP" ] || { echo "$HOP is missing: cargo build --release -p hop" >&2; exit 1; }

RUN_ID="$(date +%s)_$$"
WORK=$(mktemp -d)
DB_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
PREFIX="hopclickmem:$RUN_ID:"
export DATABASE_URL=$DB_URL DATABASE_SCHEMA=clickmem_$RUN_ID REDIS_URL=$REDIS LOG_LEVEL=warn
PIDS=()

# alive PID: the child runs (has not exited; an exited child stays a zombie until waited for)
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ]
}

# stop PID: SIGTERM, up to 30 s to exit (the click writer drains its buffer), then SIGKILL.
stop() {
  local _
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    alive "$1" || break
    sleep 0.1
  done
  if alive "$1"; then
    echo "  process $1 did not stop in 30 s; killed" >&2
    kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  timeout 120 psql "$DB_URL" -qc "DROP SCHEMA IF EXISTS $DATABASE_SCHEMA CASCADE" >/dev/null 2>&1 || true
  # Up to 2N link entries: deleted 500 to a command, through one redis-cli.
  { timeout 300 redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" \
      | awk '{k = k " " $0} NR % 500 == 0 {print "UNLINK" k; k = ""} END {if (k != "") print "UNLINK" k}' \
      | timeout 300 redis-cli -u "$REDIS" >/dev/null; } 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# status_kib PID FIELD -> the field of /proc/PID/status, in KiB
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# metric PORT NAME -> the sum of the series NAME on the instance's /metrics (0 if absent)
metric() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null \
    | awk -v m="$2" 'index($0, m "{") == 1 || index($0, m " ") == 1 {s += $NF} END {printf "%d", s}'
}

# The settings the instances run with: the defaults from --help, unless set in the
# environment.
HELP=$("$HOP" serve redirect --help)
SETTINGS=""
for name in CACHE_L1_CAPACITY CACHE_L1_TTL_SECS CLICK_BUFFER_SIZE CLICK_BUFFER_BYTES CLICK_BATCH_MAX \
            CLICK_FLUSH_MS HTTP_MAX_HEADER_BYTES DATABASE_POOL_SIZE _RJEM_MALLOC_CONF; do
  if [ -n "${!name:-}" ]; then
    value="${!name} (from the environment)"
  else
    # The option's help runs from its "--name <NAME>" line to the next option's line.
    value=$(awk -v n="$name" '
      /^ *-/ {if (want) exit; want = index($0, "<" n ">") > 0; next}
      want {text = text " " $0}
      END {
        if (match(text, /\[default: *[^]]*\]/)) {
          v = substr(text, RSTART + 9, RLENGTH - 10); gsub(/ /, "", v); print v
        }
      }' <<<"$HELP")
    if [ -z "$value" ] && [ "$name" = _RJEM_MALLOC_CONF ]; then value="unset (the options built in by .cargo/config.toml)"; fi
    value=${value:-?}
  fi
  SETTINGS+="  $name = $value"$'\n'
done

echo "migrating schema $DATABASE_SCHEMA..." >&2
timeout 120 "$HOP" migrate >/dev/null

# The links, straight into the table: codes m0000001, m0000002, ... (valid aliases: 8
# characters of [a-z0-9]), ids 1..N. The id sequence is moved past N so a links service
# started on this schema would lease ids that do not collide (mint.rs leases blocks of
# the sequence's increment).
WIDTH=$(( ${#LINKS} > 7 ? ${#LINKS} : 7 ))
echo "seeding $LINKS links..." >&2
started=$(date +%s)
timeout 900 psql "$DB_URL" -qv ON_ERROR_STOP=1 >/dev/null <<SQL
SET search_path = $DATABASE_SCHEMA;
INSERT INTO links (id, code, target_url, title, owner_id, created_at, updated_at)
SELECT i, 'm' || lpad(i::text, $WIDTH, '0'),
       'https://shop.example.com/catalogue/item/' || i || '?utm_source=hop&utm_medium=short',
       NULL, NULL, now(), now()
FROM generate_series(1, $LINKS) AS i;
SELECT setval('link_ids', $LINKS + 1, false);
ANALYZE links;
SQL
echo "  seeded in $(( $(date +%s) - started )) s" >&2

# The walk: every code once per pass, in order; requests past the pass ask /health/live,
# which is neither a redirect nor a click, until the thread stops on the pass's last
# answer (every answer but a 200 is one code's).
cat >"$WORK/walk.lua" <<'LUA'
local n = tonumber(os.getenv("LINKS"))
local width = tonumber(os.getenv("WIDTH"))
local long_every = tonumber(os.getenv("LONG_EVERY"))
local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86 (hop click-memory benchmark; desktop browser, Windows 11)",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1 (hop click-memory benchmark; phone browser, iOS 18)",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 (hop click-memory benchmark; desktop browser, Linux; padded to a realistic length for a User-Agent)",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.139 Safari/537.36 (hop click-memory benchmark; crawler)",
}
local referers = {
  "https://news.example.org/2026/12/01/the-story-everyone-is-sharing-today?ref=frontpage&id=",
  "https://mail.example.net/u/0/inbox/message/18c2f0a9d3?view=pt&search=all&permmsgid=msg-f:",
  "https://social.example.com/@someone/posts/113567890123456789?utm_source=share&utm_item=",
}
local long_agent, calls, finished = nil, 0, false
-- Globals, so that done() can read them with thread:get().
sent, answered, found, long = 0, 0, 0, 0

init = function(args)
  long_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
  long_agent = long_agent .. string.rep("X", 8192 - #long_agent)
end

request = function()
  -- wrk calls request() once before the run to inspect it, and discards what it gets.
  calls = calls + 1
  if calls == 1 then
    return wrk.format("GET", "/health/live")
  end
  sent = sent + 1
  if sent > n then
    return wrk.format("GET", "/health/live")
  end
  local agent = agents[sent % #agents + 1]
  if long_every > 0 and sent % long_every == 0 then
    agent = long_agent
    long = long + 1
  end
  local headers = {
    ["User-Agent"] = agent,
    ["Referer"] = referers[sent % #referers + 1] .. sent,
  }
  return wrk.format("GET", "/m" .. string.format("%0" .. width .. "d", sent), headers)
end

response = function(status, headers, body)
  if status == 200 then return end
  answered = answered + 1
  if status == 302 then found = found + 1 end
  if answered >= n and not finished then
    -- wrk runs for its whole duration whatever its threads do: this file tells the
    -- script to interrupt it (SIGINT), upon which it reports at once.
    finished = true
    io.open(os.getenv("DONE_FILE"), "w"):close()
    wrk.thread:stop()
  end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("walk answered=%d found=%d long=%d\n", t:get("answered"), t:get("found"), t:get("long")))
  end
end
LUA

# walk PORT OUT -> one pass over every code (wrk's report), at most 15 minutes
walk() {
  local done_file=$WORK/walked wrk_pid _
  rm -f "$done_file"
  DONE_FILE=$done_file LINKS=$LINKS WIDTH=$WIDTH LONG_EVERY=$LONG_EVERY \
    wrk -t1 -c"$CONNECTIONS" -d900s --timeout 10s -s "$WORK/walk.lua" "http://127.0.0.1:$1" >"$2" 2>&1 &
  wrk_pid=$!
  for _ in $(seq 1 9000); do
    if [ -e "$done_file" ] || ! alive "$wrk_pid"; then break; fi
    sleep 0.1
  done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
  cat "$2"
}

# run_mode MODE -> appends "mode answered found long recorded dropped written ready pass1 pass2 after peak secs"
RESULTS=$WORK/results.txt
run_mode() {
  local mode=$1 enabled port pid out pass a f l answered=0 found=0 long=0 started
  local ready_kib pass_kib=() after_kib peak_kib recorded dropped written depth
  case "$mode" in on) enabled=true ;; off) enabled=false ;; *) echo "unknown mode $mode" >&2; return 1 ;; esac
  port=$(free_port)
  PORT=$port CLICKS_ENABLED=$enabled REDIS_KEY_PREFIX="$PREFIX$mode:" \
    "$HOP" serve redirect >"$WORK/redirect-$mode.log" 2>&1 & pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/health/ready"
  sleep 1
  ready_kib=$(status_kib "$pid" VmRSS)
  echo "recording $mode: pid $pid, port $port, RSS when ready $(mib "$ready_kib") MiB" >&2
  started=$(date +%s)
  for pass in 1 2; do
    out=$(walk "$port" "$WORK/wrk-$mode-$pass.out")
    a=0 f=0 l=0
    read -r a f l < <(sed -n 's/^walk answered=\([0-9]*\) found=\([0-9]*\) long=\([0-9]*\)$/\1 \2 \3/p' <<<"$out") || true
    answered=$((answered + a)); found=$((found + f)); long=$((long + l))
    pass_kib+=("$(status_kib "$pid" VmRSS)")
    echo "  pass $pass: $a answered ($f redirects, $l with an 8 KiB User-Agent), $(awk '/^Requests\/sec:/ {print $2}' <<<"$out") req/s, RSS $(mib "${pass_kib[-1]}") MiB" >&2
  done
  # Let the writer write what it took: every recorded click written (or counted dropped).
  for _ in $(seq 1 240); do
    recorded=$(metric "$port" hop_clicks_recorded_total)
    written=$(metric "$port" hop_clicks_written_total)
    depth=$(metric "$port" hop_click_buffer_depth)
    [ "$depth" = 0 ] && [ "$written" -ge "$recorded" ] && break
    sleep 0.5
  done
  sleep 2
  recorded=$(metric "$port" hop_clicks_recorded_total)
  dropped=$(metric "$port" hop_clicks_dropped_total)
  written=$(metric "$port" hop_clicks_written_total)
  after_kib=$(status_kib "$pid" VmRSS)
  peak_kib=$(status_kib "$pid" VmHWM)
  local l1; l1=$(metric "$port" hop_redirect_l1_entries)
  local threads; threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$pid/status")
  echo "  flushed: $recorded recorded, $written written, $dropped dropped; L1 entries $l1, threads $threads; RSS $(mib "$after_kib") MiB, peak $(mib "$peak_kib") MiB" >&2
  stop "$pid"
  PIDS=()
  echo "$mode $answered $found $long $recorded $dropped $written $ready_kib ${pass_kib[0]} ${pass_kib[1]} $after_kib $peak_kib $(( $(date +%s) - started ))" >>"$RESULTS"
}

for mode in $MODES; do run_mode "$mode"; done

echo
echo "hop click-buffer memory, $(date -u +%Y-%m-%d), $(nproc) cores, $LINKS links walked twice, wrk -t1 -c$CONNECTIONS, one request in $LONG_EVERY with an 8 KiB User-Agent"
echo "settings of the redirect instances:"
printf '%s' "$SETTINGS"
echo
echo "| recording | redirects | 8 KiB User-Agents | clicks recorded | dropped | written | RSS ready (MiB) | after pass 1 | after pass 2 | after flush | peak (VmHWM) | seconds |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
while read -r mode answered found long recorded dropped written ready p1 p2 after peak secs; do
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | **%s** | %s |\n' "$mode" "$found" "$long" "$recorded" \
    "$dropped" "$written" "$(mib "$ready")" "$(mib "$p1")" "$(mib "$p2")" "$(mib "$after")" "$(mib "$peak")" "$secs"
  [ "$answered" = "$found" ] || echo "  ($mode: $answered answered, $found of them redirects)"
done <"$RESULTS"
awk '
  $1 == "on" {on_rss = $11; on_peak = $12}
  $1 == "off" {off_rss = $11; off_peak = $12}
  END {
    if (on_peak && off_peak)
      printf "\nratio on/off: RSS after flush %.2f, peak %.2f\n", on_rss / off_rss, on_peak / off_peak
    if (on_peak)
      printf "target: peak with recording on < 128 MiB: %s (%.1f MiB)\n", (on_peak / 1024 < 128 ? "met" : "MISSED"), on_peak / 1024
  }' "$RESULTS"
