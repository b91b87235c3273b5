#!/usr/bin/env bash
# The web app's browser tests (web-tests/app.test.mjs): Debian's Chromium, headless, driven
# by playwright-core from npm, against a `hop up` built from this checkout, on the embedded
# store in a throwaway data directory. Installs Chromium (apt) and the npm packages
# (npm ci, from web-tests/package-lock.json) when missing; downloads no browser.
#
#   scripts/browser-test.sh                  run the tests (what scripts/test.sh runs)
#   scripts/browser-test.sh --screenshots    also write the README's screenshots to
#                                            docs/screenshots/
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

SHOTS=""
case "${1:-}" in
  --screenshots) SHOTS="$PWD/docs/screenshots" ;;
  "") ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

if ! command -v chromium >/dev/null; then
  echo "--- installing chromium (Debian)" >&2
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "missing chromium: install it (apt-get install chromium)" >&2; exit 1
  fi
fi
if [ ! -d web-tests/node_modules/playwright-core ] || [ ! -d web-tests/node_modules/axe-core ]; then
  echo "--- npm ci (web-tests)" >&2
  (cd web-tests && npm ci --no-audit --no-fund --silent)
fi

cargo build --locked -q -p hop
with_scratch

# No PostgreSQL, no Redis: the embedded default, as a first-time user runs it. The short
# links lead to a page the test serves on loopback (a private target, allowed here), and
# the test signs up several accounts from one address.
hop_up_embedded target/debug/hop ALLOW_PRIVATE_TARGETS=true RATE_LIMIT_REGISTER_IP=100/3600

echo "--- browser tests (chromium $(chromium --version 2>/dev/null | awk '{print $2}'))" >&2
status=0
(cd web-tests && HOP_URL="http://localhost:$PORT" CHROMIUM="$(command -v chromium)" \
  SCREENSHOT_DIR="${SHOTS:-$WORK/shots}" node --test --test-concurrency=1 app.test.mjs) || status=$?
if [ "$status" != 0 ]; then
  echo "--- hop up's log" >&2
  tail -n 50 "$WORK/hop.log" >&2
fi
exit "$status"
