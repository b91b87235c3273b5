#!/usr/bin/env bash
# The OpenAPI document against the running API: schemathesis (PyPI) generates requests for
# every operation of `GET /openapi.json` (valid ones, and invalid ones the API must refuse)
# and checks every answer: no 5xx, the status, content type, headers and body as the
# document says. It runs against a `hop up` built from this checkout, on the embedded store
# in a throwaway data directory, three times: with an API key (Authorization: Bearer), with
# a session token, and with no credentials at all.
#
#   scripts/openapi-test.sh                 what scripts/test.sh runs
#   scripts/openapi-test.sh --examples N    examples per operation and run (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

EXAMPLES=40
case "${1:-}" in
  --examples) EXAMPLES=${2:?--examples needs a number} ;;
  "") ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

SCHEMATHESIS_VERSION=4.32.5
VENV=${HOP_TOOLS_DIR:-$HOME/.cache/hop-tools}/schemathesis-$SCHEMATHESIS_VERSION
if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "--- installing schemathesis $SCHEMATHESIS_VERSION (PyPI)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked -q -p hop
with_scratch

# The limits are raised so that the runs explore the operations rather than the 429s
# (which the document describes too, and which the first requests of each run meet).
hop_up_embedded target/debug/hop \
  RATE_LIMIT_REGISTER_IP=100000/60 RATE_LIMIT_LOGIN_IP=100000/60 \
  RATE_LIMIT_LOGIN_EMAIL=100000/60 RATE_LIMIT_LOGIN_IP_EMAIL=100000/60 \
  RATE_LIMIT_REFRESH_IP=100000/60 RATE_LIMIT_CREATE_USER=100000/60 \
  RATE_LIMIT_CREATE_ANON_IP=100000/60 RATE_LIMIT_BULK_USER=100000/60 \
  RATE_LIMIT_API_KEY=100000/60

# An account with a link, a tag and an API key, so that reads find something.
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
post() { curl -sf -X POST "$BASE$1" -H 'Content-Type: application/json' "${@:3}" -d "$2"; }
post /auth/register '{"email":"schemathesis@example.com","password":"correct horse battery staple"}' >/dev/null
TOKEN=$(post /auth/login '{"email":"schemathesis@example.com","password":"correct horse battery staple"}' | json access_token)
post /links '{"url":"https://example.com/","alias":"example","tags":["rust"]}' -H "Authorization: Bearer $TOKEN" >/dev/null
KEY=$(post /auth/api-keys '{"name":"schemathesis"}' -H "Authorization: Bearer $TOKEN" | json key_secret)

# What must hold on every answer. (positive_data_acceptance is not among them: a request
# the schema allows may still be refused for what only the server knows, a taken alias or
# a private target.)
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance
CHECKS=$CHECKS,response_headers_conformance,response_schema_conformance
CHECKS=$CHECKS,negative_data_rejection,ignored_auth,missing_required_header,unsupported_method

run() {
  local name=$1 checks=$2; shift 2
  echo "--- schemathesis: $name" >&2
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$BASE/openapi.json" --url "$BASE" \
    --checks "$checks" --max-examples "$EXAMPLES" --workers 1 \
    --phases examples,coverage,fuzzing --seed 1 --no-color "$@" || { tail -n 40 "$WORK/hop.log" >&2; return 1; }
}
# Shlink answers /mercure-info with 501 when no Mercure hub is configured, and its clients
# take that to mean "no real-time updates": hop answers the same, on purpose, so that one
# operation is checked apart, with every check but "no 5xx".
MERCURE=/rest/v3/mercure-info
# The key first: the session run may revoke keys (DELETE /auth/api-keys/{id}). The
# session run leaves out the one operation that would end the session itself.
run "an API key" "$CHECKS" -H "Authorization: Bearer $KEY" --exclude-path "$MERCURE"
run "an API key, $MERCURE" "${CHECKS#not_a_server_error,}" -H "Authorization: Bearer $KEY" --include-path "$MERCURE"
run "no credentials" "$CHECKS"
run "a session token" "$CHECKS" -H "Authorization: Bearer $TOKEN" --exclude-path /auth/logout
