#!/usr/bin/env bash
# Shlink's own JS client (@shlinkio/shlink-js-sdk, npm) driven against a `hop up` built
# from this checkout (web-tests/shlink.test.mjs): create with tags and a custom slug, list
# and search, get, edit, visits after following a link, tags, domains, health, delete,
# keys and scopes. The embedded store in a throwaway data directory; installs the npm
# packages (npm ci, from web-tests/package-lock.json) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

if [ ! -d web-tests/node_modules/@shlinkio/shlink-js-sdk ]; then
  echo "--- npm ci (web-tests)" >&2
  (cd web-tests && npm ci --no-audit --no-fund --silent)
fi
cargo build --locked -q -p hop
with_scratch
# Clicks are flushed every 100 ms, so that the visits show soon after the redirect.
hop_up_embedded target/debug/hop CLICK_FLUSH_MS=100
echo "--- Shlink JS SDK ($(node -p 'require("./web-tests/node_modules/@shlinkio/shlink-js-sdk/package.json").version')) against hop up" >&2
status=0
(cd web-tests && HOP_URL="$BASE" node --test --test-concurrency=1 shlink.test.mjs) || status=$?
if [ "$status" != 0 ]; then
  echo "--- hop up's log" >&2
  tail -n 50 "$WORK/hop.log" >&2
fi
exit "$status"
