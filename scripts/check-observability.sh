#!/usr/bin/env bash
# Checks the alerting configuration with the real tools, then proves the alert path live.
#
#   scripts/check-observability.sh            static checks, then the live alert test
#   scripts/check-observability.sh --static   static checks only (no hop binary needed)
#
# Static: promtool check config / check rules / test rules (every file of
# infra/prometheus/tests: the alerts, the on-call alerts, the SLO burn rates), a check
# that every alert has a firing test, a quiet test, a runbook and a row in the runbooks'
# alert table, the blackbox exporter's modules (--config.check; the Kubernetes copy is
# the same file), the Loki ruler's rules (YAML shape only: no Loki binary here), the
# Grafana dashboards (JSON, every recorded series a query names exists), amtool
# check-config on the rendered Alertmanager configuration and its routing (critical ->
# email and Discord, the rest -> email), and the render.sh scripts given secrets with
# `&`, `\`, `|` and `/` (copied verbatim, output mode 0600).
#
# Live: starts `hop up` (target/debug/hop, built by `cargo test`), creates its canary
# link with scripts/canary.py (an account, an API key), runs Debian's
# prometheus-blackbox-exporter with the shipped modules, a real Prometheus scraping hop
# and probing its /health/ready and canary every second with the shipped rules, and a
# real Alertmanager with the shipped routing whose Discord webhook points at a receiver
# this script runs. Once both probes succeed it stops hop, and waits for
# HopInstanceDown and HopProbeFailing (2 minutes of failed probes) to arrive at the
# receiver (limit: 4 minutes). Everything listens on 127.0.0.1 and is stopped at the end.
#
# Uses promtool, amtool, prometheus, prometheus-alertmanager and
# prometheus-blackbox-exporter (Debian packages of those names; scripts/test.sh installs
# them when missing).
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

echo "--- every alert has a firing test, a quiet test, a runbook and a row in the table" >&2
python3 - "$RULES/alerts.yml" infra/prometheus/tests docs/runbooks <<'EOF'
import glob, os, sys, yaml
rules, tests_dir, runbooks = sys.argv[1:4]
table = open(os.path.join(runbooks, "README.md")).read()
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
    severity = rule.get("labels", {}).get("severity")
    receiver = "email and Discord" if severity == "critical" else "email"
    row = f"| [{name}]({name}.md) | {severity} | {receiver} |"
    if row not in table:
        problems.append(f"{name}: no row starting {row!r} in {runbooks}/README.md")
for p in problems:
    print("  " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"  {len(alerts)} alerts: each fires, stays quiet and has a runbook")
EOF

echo "--- blackbox exporter modules, Loki ruler rules, Grafana dashboards" >&2
prometheus-blackbox-exporter --config.check --config.file=infra/blackbox/blackbox.yml 2>&1 \
  | grep -q "Config file is ok" || { echo "infra/blackbox/blackbox.yml is not valid" >&2; exit 1; }
cmp infra/blackbox/blackbox.yml infra/k8s/components/probes/blackbox.yml \
  || { echo "infra/k8s/components/probes/blackbox.yml differs from infra/blackbox/blackbox.yml" >&2; exit 1; }
PUBLIC_BASE_URL=https://sho.rt infra/prometheus/render.sh infra/prometheus/probes.yml.tmpl \
  "$WORK/probes.yml" PUBLIC_BASE_URL
python3 - infra/loki/rules infra/grafana/dashboards "$RULES" "$WORK/probes.yml" <<'EOF'
import glob, json, os, re, sys, yaml
loki_rules, dashboards, prom_rules, probes = sys.argv[1:5]
problems = []
# The observability droplet's probe targets, rendered from PUBLIC_BASE_URL.
targets = {g["labels"]["probe"]: g["targets"] for g in yaml.safe_load(open(probes))}
if targets != {"ready": ["https://sho.rt/health/ready"], "canary": ["https://sho.rt/hop-canary"]}:
    problems.append(f"probes.yml.tmpl renders {targets}")
# Loki in S3 is the local configuration plus a schema period, the bucket and the
# compactor's delete store: nothing else may drift between the two files.
def loki(path):
    text = re.sub(r"\$\{[A-Z0-9_]+(:-[^}]*)?\}", "x", open(path).read())
    return yaml.safe_load(text)
local, s3 = loki("infra/loki/loki-config.yml"), loki("infra/loki/loki-config.s3.yml")
if s3["schema_config"]["configs"][0] != local["schema_config"]["configs"][0] \
        or s3["schema_config"]["configs"][1]["object_store"] != "s3":
    problems.append("loki-config.s3.yml: the first schema period must be the local one, the second S3")
s3["storage_config"].pop("aws", None)
for config in (local, s3):
    config.pop("schema_config")
    config["compactor"].pop("delete_request_store")
if local != s3:
    problems.append("loki-config.s3.yml drifted from loki-config.yml beyond the S3 settings")
# Loki's ruler reads Prometheus-style rule groups (one folder per tenant) whose
# expressions are LogQL.
files = glob.glob(os.path.join(loki_rules, "*", "*.yml"))
if not files:
    problems.append(f"no rule files under {loki_rules}/<tenant>/")
for path in files:
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            if not re.search(r"\{[^}]*\}", rule["expr"]):
                problems.append(f"{path} {name}: expr has no stream selector")
            if "alert" in rule:
                if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                    problems.append(f"{path} {name}: severity must be critical or warning")
                if not rule.get("annotations", {}).get("runbook_url"):
                    problems.append(f"{path} {name}: no runbook_url")
# Every recorded series a dashboard query names is recorded by a rule.
recorded = {r["record"] for f in glob.glob(os.path.join(prom_rules, "*.yml"))
            for g in yaml.safe_load(open(f))["groups"] for r in g["rules"] if "record" in r}
def panels(board):
    for panel in board.get("panels", []):
        yield panel
        yield from panels(panel)
for path in glob.glob(os.path.join(dashboards, "*.json")):
    board = json.load(open(path))
    for panel in panels(board):
        for target in panel.get("targets", []):
            for series in re.findall(r"\b[a-z_]+:[a-z0-9_:]+", target.get("expr", "")):
                if series not in recorded:
                    problems.append(f"{path} panel {panel.get('title')!r}: {series} is not recorded")
for p in problems:
    print("  " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"  {len(files)} Loki rule file(s); loki-config.s3.yml is loki-config.yml plus S3; "
      "the probe targets render; every recorded series the dashboards read exists")
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
amtool config routes test --config.file="$WORK/alertmanager.yml" \
  --verify.receivers=email-and-discord severity=critical alertname=HopProbeFailing 2>/dev/null
amtool config routes test --config.file="$WORK/alertmanager.yml" \
  --verify.receivers=email severity=warning alertname=HopErrorBudgetSlowBurn slo=redirect-availability 2>/dev/null

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

echo "--- live: hop stops; HopInstanceDown and HopProbeFailing reach a webhook through Prometheus and Alertmanager" >&2
HOP=${HOP_BIN:-target/debug/hop}
[ -x "$HOP" ] || { echo "no $HOP: run cargo build first (or set HOP_BIN)" >&2; exit 1; }
HOP_PORT=$(free_port); PROM_PORT=$(free_port); AM_PORT=$(free_port); HOOK_PORT=$(free_port)
BB_PORT=$(free_port)
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
BASE="http://127.0.0.1:$HOP_PORT"
wait_http "$BASE/health/ready" || { tail -n 20 "$WORK/hop.log" >&2; exit 1; }

# The canary, as a deploy creates it: an account, an API key, scripts/canary.py.
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
credentials='{"email":"monitoring@example.com","password":"a long enough password"}'
curl -fsS -X POST "$BASE/auth/register" -H 'content-type: application/json' -d "$credentials" >/dev/null
TOKEN=$(curl -fsS -X POST "$BASE/auth/login" -H 'content-type: application/json' -d "$credentials" | json_field access_token)
HOP_API_KEY=$(curl -fsS -X POST "$BASE/auth/api-keys" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"canary","scopes":["links:read","links:write"]}' | json_field key_secret)
export HOP_API_KEY
python3 scripts/canary.py "$BASE"
# A second run finds it in place and changes nothing.
again=$(python3 scripts/canary.py "$BASE" 2>&1)
grep -q "already points at" <<<"$again" \
  || { echo "scripts/canary.py did not find the canary it made: $again" >&2; exit 1; }
unset HOP_API_KEY

prometheus-blackbox-exporter --config.file=infra/blackbox/blackbox.yml \
  --web.listen-address="127.0.0.1:$BB_PORT" >"$WORK/blackbox.log" 2>&1 &
PIDS+=($!)

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
  # The shipped probe jobs (infra/prometheus/prometheus.yml), aimed at this hop.
  - job_name: hop-probe-ready
    metrics_path: /probe
    params: {module: [hop_ready]}
    static_configs: [{targets: ["$BASE/health/ready"]}]
    relabel_configs: &blackbox
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "127.0.0.1:$BB_PORT"}
  - job_name: hop-probe-canary
    metrics_path: /probe
    params: {module: [hop_canary]}
    static_configs: [{targets: ["$BASE/hop-canary"]}]
    relabel_configs: *blackbox
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

# 1 once hop is scraped and both probes succeed (the canary answered its redirect).
all_up() {
  curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode \
    'query=min(up{job="hop-redirect"}) * min(probe_success{job="hop-probe-ready"}) * min(probe_success{job="hop-probe-canary"})' 2>/dev/null \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
for _ in $(seq 1 120); do
  [ "$(all_up)" = "1" ] && break
  sleep 0.5
done
if [ "$(all_up)" != "1" ]; then
  echo "Prometheus never saw hop up with both probes succeeding; the canary probe says:" >&2
  curl -sS "http://127.0.0.1:$BB_PORT/probe?module=hop_canary&target=$BASE/hop-canary&debug=true" >&2 || true
  tail -n 20 "$WORK/hop.log" "$WORK/prometheus.log" "$WORK/blackbox.log" >&2
  exit 1
fi
echo "  Prometheus scrapes hop (up=1) and both probes succeed (probe_success=1); stopping hop" >&2

kill -TERM "$HOP_PID"
wait "$HOP_PID" 2>/dev/null || true
stopped=$(date +%s)
deadline=$((stopped + 240))
pending="HopInstanceDown HopProbeFailing"
while [ -n "$pending" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  still=""
  for alert in $pending; do
    if [ -s "$WORK/received.jsonl" ] && grep -q "$alert" "$WORK/received.jsonl"; then
      echo "  $alert delivered $(( $(date +%s) - stopped )) s after hop stopped" >&2
    else
      still="$still $alert"
    fi
  done
  pending=${still# }
  if [ -n "$pending" ]; then sleep 1; fi
done
if [ -n "$pending" ]; then
  echo "$pending did not reach the receiver within 4 minutes" >&2
  tail -n 20 "$WORK/prometheus.log" "$WORK/alertmanager.log" "$WORK/hook.log" >&2
  exit 1
fi
# Each delivery is the Discord payload of a firing critical alert.
python3 - "$WORK/received.jsonl" <<'EOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for alert in ("HopInstanceDown", "HopProbeFailing"):
    mine = [d for d in docs if alert in json.dumps(d)]
    assert mine and "FIRING" in json.dumps(mine[0]).upper(), json.dumps(docs)[:800]
    print("  the receiver got:", mine[0].get("embeds", [{}])[0].get("title", "")[:120], file=sys.stderr)
EOF

psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
redis-cli -u "$REDIS_URL" --scan --pattern "$SCHEMA:*" 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
