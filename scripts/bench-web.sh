#!/usr/bin/env bash
# The web app's benchmark: the server time of the "my links" page with 50 links on it,
# through `hop up` (release build, embedded store, as a first-time user runs it), beside a
# reference measured in the same run on the same port, and the weight of a first visit.
#
#   scripts/bench-web.sh [--rounds N] [--duration SECS]
#
#   reference   GET /health/live through the same `hop up` (the same listener, router and
#               middleware, no page): what the HTTP stack alone costs
#   links-page  GET /app/links signed in with a session cookie: cookie session check
#               (token, deny-list), ListLinks in process, SQLite, 50 rows rendered
#   home        GET / signed in: the create form (no backend call)
#
# Each scenario runs with one connection (wrk -c1: latency is server time plus loopback)
# and with 16 (throughput). The report gives medians over the rounds of p50, p99 and
# requests/s. Then the bytes of a first visit to / (HTML, CSS, JS, icon; no fonts: the
# pages use the system's).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

ROUNDS=3
DURATION=10
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

cargo build --release --locked -q -p hop
with_scratch

hop_up_embedded target/release/hop

# An account with 50 links, signed in through the sign-in form as a browser is.
curl -fsS -o /dev/null -X POST "$BASE/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password"}'
TOKEN=$(curl -fsS -X POST "$BASE/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for i in $(seq 1 50); do
  curl -fsS -o /dev/null -X POST "$BASE/links" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' \
    -d "{\"url\":\"https://example.com/articles/$i?utm_source=bench\",\"title\":\"Article number $i\"}"
done
JAR="$WORK/jar"
CSRF=$(curl -fsS -c "$JAR" "$BASE/app/signin" | python3 -c 'import re,sys; print(re.search(r"name=\"csrf\" value=\"([^\"]+)\"", sys.stdin.read()).group(1))')
curl -fsS -o /dev/null -b "$JAR" -c "$JAR" -X POST "$BASE/app/signin" \
  --data-urlencode "csrf=$CSRF" --data-urlencode "email=bench@example.com" --data-urlencode "password=bench password"
COOKIE=$(awk '$6=="hop_session"||$6=="hop_csrf"{printf "%s=%s; ", $6, $7}' "$JAR")
PAGE_HTML=$(curl -fsS -H "cookie: $COOKIE" "$BASE/app/links")
ROWS=$(printf '%s' "$PAGE_HTML" | grep -o '<li>' | wc -l)
[ "$ROWS" = 50 ] || { echo "the links page shows $ROWS links, not 50" >&2; exit 1; }
PAGE_BYTES=${#PAGE_HTML}

# wrk's report -> "p50_ms p99_ms rps".
measure() { # connections path [cookie]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t1 -c"$1" -d"${DURATION}s" --latency -H "cookie: $3" "$BASE$2")
  else
    out=$(wrk -t1 -c"$1" -d"${DURATION}s" --latency "$BASE$2")
  fi
  python3 - "$out" <<'PY'
import re, sys
text = sys.argv[1]
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
if bad:
    sys.exit(f"{bad.group(1)} failed responses")
print(f"{ms('50'):.3f} {ms('99'):.3f} {rps:.0f}")
PY
}

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  echo "--- round $round/$ROUNDS" >&2
  for c in 1 16; do
    RESULTS[reference-$c]+="$(measure "$c" /health/live)"$'\n'
    RESULTS[links-page-$c]+="$(measure "$c" /app/links "$COOKIE")"$'\n'
    RESULTS[home-$c]+="$(measure "$c" / "$COOKIE")"$'\n'
  done
done

echo
printf '%-14s %5s %10s %10s %10s\n' scenario conns p50_ms p99_ms req/s
for name in reference links-page home; do
  for c in 1 16; do
    printf '%s' "${RESULTS[$name-$c]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = [statistics.median(col) for col in zip(*rows)]
name, c = sys.argv[1], sys.argv[2]
print(f"{name:<14} {c:>5} {med[0]:>10.3f} {med[1]:>10.3f} {med[2]:>10.0f}")
' "$name" "$c"
  done
done

# A first visit: the signed-out home page and everything it loads.
HOME_PAGE=$(curl -fsS "$BASE/")
TOTAL=${#HOME_PAGE}
echo
printf '%-40s %8s\n' "first visit to /" bytes
printf '%-40s %8d\n' "/ (HTML)" "$TOTAL"
for asset in $(printf '%s' "$HOME_PAGE" | grep -o '/assets/[^"]*' | sort -u); do
  size=$(curl -fsS "$BASE$asset" | wc -c)
  printf '%-40s %8d\n' "$asset" "$size"
  TOTAL=$((TOTAL + size))
done
printf '%-40s %8d\n' "total (uncompressed; no fonts)" "$TOTAL"
printf '%-40s %8d\n' "the links page with 50 links (HTML)" "$PAGE_BYTES"
