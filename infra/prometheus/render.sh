#!/bin/sh
# Renders a config template, filling the dollar-brace placeholders of the named variables
# from the environment; refuses an empty variable. POSIX sh and sed only (it runs in the
# busybox-based prom/prometheus image):
#
#   render.sh agent.yml.tmpl /prometheus/agent.yml OBSERVABILITY_HOST DROPLET_NAME
set -eu
template=${1:?usage: render.sh TEMPLATE OUTPUT VAR...}
output=${2:?usage: render.sh TEMPLATE OUTPUT VAR...}
shift 2
script=""
for name in "$@"; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || { echo "render.sh: $name is not set" >&2; exit 1; }
  case "$value" in *"|"*) echo "render.sh: $name must not contain |" >&2; exit 1 ;; esac
  script="$script s|\${$name}|$value|g;"
done
sed "$script" "$template" > "$output"
