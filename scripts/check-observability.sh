#!/usr/bin/env bash
# Checks the alerting configuration with the real tools, then proves the alert path live.
#
#   scripts/check-observability.sh            static checks, then the live alert test
#   scripts/check-observability.sh --static   static checks only (no hop binary needed)
#
# Static: promtool check config / check rules / test rules, a check that every alert has
# a firing test, a quiet test and a runbook, amtool check-config on the rendered
# Alertmanager configuration and its routing (critical -> email and Discord, the rest ->
# email), and both render.sh scripts given secrets with `&`, `\`, `|` and `/` (copied
# verbatim, output mode 0600).
#
# Live: starts `hop up` (target/debug/hop, built by `cargo test`), a real Prometheus
# scraping it every second with the shipped rules, a real Alertmanager with the shipped
# routing whose Discord webhook points at a receiver this script runs, stops hop, and
# waits for HopInstanceDown to arrive at the receiver (limit: 2 minutes). Everything
# listens on 127.0.0.1 and is stopped at the end.
#
# Uses promtool, amtool, prometheus and prometheus-alertmanager (Debian packages
# prometheus and prometheus-alertmanager; scripts/test.sh installs them when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

LIVE=1
[ "${1:-}" = "--static" ] && LIVE=0

RULES=infra/prometheus/rules
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "--- promtool check config / rules / test rules" >&2
promtool check config --syntax-only infra/prometheus/prometheus.yml
promtool check rules "$RULES"/*.yml
(cd infra/prometheus && promtool test rules tests/*.yml)

echo "--- every alert has a firing test, a quiet test and a runbook" >&2
python3 - "$RULES/alerts.yml" infra/prometheus/tests docs/runbooks <<'EOF'
import glob, os, sys, yaml
rules, tests_dir, runbooks = sys.argv[1:4]
alerts = [r for g in yaml.safe_load(open(rules))["groups"] for r in g["rules"] if "alert" in r]
fired, quiet = set(), set()
for path in glob.glob(os.path.join(tests_dir, "*.yml")):
    for test in yaml.safe_load(open(path))["tests"]:
        for case in test.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
problems = []
for rule in alerts:
    name = rule["alert"]
    for key in ("summary", "description", "runbook_url"):
        if key not in rule.get("annotations", {}):
            problems.append(f"{name}: no {key} annotation")
    if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
        problems.append(f"{name}: severity must be critical or warning")
    if name not in fired:
        problems.append(f"{name}: no promtool test makes it fire")
    if name not in quiet:
        problems.append(f"{name}: no promtool test shows it quiet")
    if not os.path.isfile(os.path.join(runbooks, f"{name}.md")):
        problems.append(f"{name}: no {runbooks}/{name}.md")
    elif not rule["annotations"].get("runbook_url", "").endswith(f"docs/runbooks/{name}.md"):
        problems.append(f"{name}: runbook_url does not point at docs/runbooks/{name}.md")
for p in problems:
    print("  " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"  {len(alerts)} alerts: each fires, stays quiet and has a runbook")
EOF

echo "--- amtool check-config and routing" >&2
render_alertmanager() { # $1: Discord webhook URL, $2: SMTP relay
  ALERT_EMAIL_TO=oncall@example.com ALERT_EMAIL_FROM=hop-alerts@example.com \
    SMTP_SMARTHOST="$2" SMTP_USERNAME=hop SMTP_PASSWORD=not-a-real-password \
    DISCORD_WEBHOOK_URL="$1" \
    infra/alertmanager/render.sh infra/alertmanager/alertmanager.yml.tmpl "$WORK/alertmanager.yml"
}
render_alertmanager https://discord.com/api/webhooks/0/placeholder smtp.example.com:587
amtool check-config "$WORK/alertmanager.yml"
amtool config routes test --config.file="$WORK/alertmanager.yml" \
  --verify.receivers=email-and-discord severity=critical alertname=HopInstanceDown 2>/dev/null
amtool config routes test --config.file="$WORK/alertmanager.yml" \
  --verify.receivers=email severity=warning alertname=HopClicksDropped 2>/dev/null

echo "--- render.sh: secrets with & \\ | / render verbatim, into a file only its owner reads" >&2
# Each value means something to sed (& the match, \1 a group, | and / the delimiters);
# the rendered file must be the template with each placeholder replaced literally. The
# outputs exist beforehand, world-readable, and must come out mode 0600.
tricky='p&ss\1|x\&y\\z/&'
touch "$WORK/tricky-am.yml" "$WORK/tricky-agent.yml"
chmod 644 "$WORK/tricky-am.yml" "$WORK/tricky-agent.yml"
ALERT_EMAIL_TO=oncall@example.com ALERT_EMAIL_FROM=hop-alerts@example.com \
  SMTP_SMARTHOST=smtp.example.com:587 SMTP_USERNAME='hop|&' SMTP_PASSWORD="$tricky" \
  DISCORD_WEBHOOK_URL='https://discord.com/api/webhooks/0/a?b=1&c=\2' \
  infra/alertmanager/render.sh infra/alertmanager/alertmanager.yml.tmpl "$WORK/tricky-am.yml"
amtool check-config "$WORK/tricky-am.yml" >/dev/null
OBSERVABILITY_HOST='10.0.0.3' DROPLET_NAME="$tricky" \
  infra/prometheus/render.sh infra/prometheus/agent.yml.tmpl "$WORK/tricky-agent.yml" \
  OBSERVABILITY_HOST DROPLET_NAME
python3 - "$WORK" "$tricky" <<'EOF'
import os, stat, sys, yaml
work, tricky = sys.argv[1:3]
cases = [
    ("infra/alertmanager/alertmanager.yml.tmpl", "tricky-am.yml", {
        "ALERT_EMAIL_TO": "oncall@example.com", "ALERT_EMAIL_FROM": "hop-alerts@example.com",
        "SMTP_SMARTHOST": "smtp.example.com:587", "SMTP_USERNAME": "hop|&",
        "SMTP_PASSWORD": tricky, "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/0/a?b=1&c=\\2"}),
    ("infra/prometheus/agent.yml.tmpl", "tricky-agent.yml", {
        "OBSERVABILITY_HOST": "10.0.0.3", "DROPLET_NAME": tricky}),
]
for template, out, values in cases:
    want = open(template).read()
    for name, value in values.items():
        want = want.replace("${" + name + "}", value)
    path = os.path.join(work, out)
    if open(path).read() != want:
        sys.exit(f"{template}: the rendered file is not the template with its values verbatim")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode != 0o600:
        sys.exit(f"{template}: rendered with mode {mode:o}, want 600")
password = yaml.safe_load(open(os.path.join(work, "tricky-am.yml")))["global"]["smtp_auth_password"]
if password != tricky:
    sys.exit(f"smtp_auth_password reads back as {password!r}, want {tricky!r}")
print(f"  {tricky} renders verbatim in both templates, mode 0600", file=sys.stderr)
EOF

[ "$LIVE" = 1 ] || exit 0

echo "--- live: hop stops, HopInstanceDown reaches a webhook through Prometheus and Alertmanager" >&2
HOP=${HOP_BIN:-target/debug/hop}
[ -x "$HOP" ] || { echo "no $HOP: run cargo build first (or set HOP_BIN)" >&2; exit 1; }
HOP_PORT=$(free_port); PROM_PORT=$(free_port); AM_PORT=$(free_port); HOOK_PORT=$(free_port)
SCHEMA="alert_live_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hop_test}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}

# The receiver: records every POST body, one JSON document per line.
python3 - "$HOOK_PORT" "$WORK/received.jsonl" >"$WORK/hook.log" 2>&1 <<'EOF' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(204)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Hook).serve_forever()
EOF
PIDS+=($!)

PORT=$HOP_PORT DATABASE_URL=$DATABASE_URL DATABASE_SCHEMA=$SCHEMA REDIS_URL=$REDIS_URL \
  REDIS_KEY_PREFIX="$SCHEMA:" SECRET_KEY=alert-live-test-secret-0123 INSTANCE_ID=alert-live \
  "$HOP" up >"$WORK/hop.log" 2>&1 &
HOP_PID=$!
PIDS+=("$HOP_PID")

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/$RULES/recording.yml
  - $PWD/$RULES/alerts.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$AM_PORT"]
scrape_configs:
  - job_name: hop-redirect
    static_configs:
      - targets: ["127.0.0.1:$HOP_PORT"]
EOF
promtool check config --syntax-only "$WORK/prometheus.yml" >/dev/null
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)

# The shipped routing; the Discord webhook is the local receiver, and the SMTP relay a
# closed port (those attempts fail and are retried; the test does not wait for them).
render_alertmanager "http://127.0.0.1:$HOOK_PORT/discord" "127.0.0.1:9"
prometheus-alertmanager --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/alertmanager" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address="" >"$WORK/alertmanager.log" 2>&1 &
PIDS+=($!)

up_value() {
  curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=up{job="hop-redirect"}' 2>/dev/null \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
for _ in $(seq 1 120); do
  [ "$(up_value)" = "1" ] && break
  sleep 0.5
done
if [ "$(up_value)" != "1" ]; then
  echo "Prometheus never scraped hop; logs:" >&2
  tail -n 20 "$WORK/hop.log" "$WORK/prometheus.log" >&2
  exit 1
fi
echo "  Prometheus scrapes hop (up=1); stopping hop" >&2

kill -TERM "$HOP_PID"
wait "$HOP_PID" 2>/dev/null || true
stopped=$(date +%s)
deadline=$((stopped + 120))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if [ -s "$WORK/received.jsonl" ] && grep -q 'HopInstanceDown' "$WORK/received.jsonl"; then
    echo "  HopInstanceDown delivered $(( $(date +%s) - stopped )) s after hop stopped" >&2
    break
  fi
  sleep 1
done
grep -q 'HopInstanceDown' "$WORK/received.jsonl" 2>/dev/null || {
  echo "HopInstanceDown did not reach the receiver within 2 minutes" >&2
  tail -n 20 "$WORK/prometheus.log" "$WORK/alertmanager.log" "$WORK/hook.log" >&2
  exit 1
}
# The delivery is the Discord payload for a firing critical alert.
python3 - "$WORK/received.jsonl" <<'EOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
text = json.dumps(docs)
assert "HopInstanceDown" in text and "FIRING" in text.upper(), text[:500]
print("  the receiver got:", docs[0].get("embeds", [{}])[0].get("title", "")[:120], file=sys.stderr)
EOF

psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
redis-cli -u "$REDIS_URL" --scan --pattern "$SCHEMA:*" 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
