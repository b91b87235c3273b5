#!/bin/sh
# Renders a config template, filling the dollar-brace placeholders of the named variables
# from the environment; refuses an empty variable and a placeholder it was not given.
# POSIX sh and awk only (it runs in the busybox-based prom/prometheus image):
#
#   render.sh agent.yml.tmpl /prometheus/agent.yml OBSERVABILITY_HOST DROPLET_NAME
#
# Values are copied verbatim (awk reads them from ENVIRON and splices them in with
# substr, so `&`, `\`, `|` and `/` mean nothing special); a newline is refused. The output
# is written mode 0600 and replaces any earlier file in one rename.
set -eu
template=${1:?usage: render.sh TEMPLATE OUTPUT VAR...}
output=${2:?usage: render.sh TEMPLATE OUTPUT VAR...}
shift 2
newline='
'
for name in "$@"; do
  case "$name" in
    ''|[0-9]*|*[!A-Za-z0-9_]*) echo "render.sh: $name is not a variable name" >&2; exit 1 ;;
  esac
  eval "value=\${$name:-}"
  [ -n "$value" ] || { echo "render.sh: $name is not set" >&2; exit 1; }
  case "$value" in *"$newline"*) echo "render.sh: $name must not contain a newline" >&2; exit 1 ;; esac
done
umask 077
tmp="$output.tmp"
rm -f "$tmp"
if ! awk -v names="$*" '
  BEGIN { n = split(names, list, " "); for (k = 1; k <= n; k++) known[list[k]] = 1 }
  {
    s = $0; out = ""
    while ((i = index(s, "${")) > 0) {
      rest = substr(s, i + 2); j = index(rest, "}"); name = substr(rest, 1, j - 1)
      if (j > 0 && (name in known)) { out = out substr(s, 1, i - 1) ENVIRON[name]; s = substr(rest, j + 1) }
      else { if (j > 0) unknown = unknown " " name; out = out substr(s, 1, i + 1); s = rest }
    }
    print out s
  }
  END { if (unknown != "") { print "render.sh: unknown placeholders:" unknown > "/dev/stderr"; exit 1 } }
' "$template" > "$tmp"; then
  rm -f "$tmp"
  exit 1
fi
mv -f "$tmp" "$output"
