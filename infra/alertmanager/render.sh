#!/bin/sh
# Renders alertmanager.yml.tmpl into a config file, filling ${VAR} placeholders from the
# environment, and refuses to render with a placeholder left empty or unknown. POSIX sh
# and awk only, so it runs in the prom/alertmanager image (busybox) as its entrypoint:
#
#   render.sh /etc/alertmanager/alertmanager.yml.tmpl /tmp/alertmanager.yml && \
#     exec alertmanager --config.file=/tmp/alertmanager.yml ...
#
# Values are copied verbatim (awk reads them from ENVIRON and splices them in with
# substr, so `&`, `\`, `|` and `/` mean nothing special). The template puts each one in a
# single-quoted YAML string, so a value must not contain ' or a newline. The output holds
# secrets: it is written mode 0600 and replaces any earlier file in one rename.
set -eu
template=${1:?usage: render.sh TEMPLATE OUTPUT}
output=${2:?usage: render.sh TEMPLATE OUTPUT}
names="ALERT_EMAIL_TO ALERT_EMAIL_FROM SMTP_SMARTHOST SMTP_USERNAME SMTP_PASSWORD DISCORD_WEBHOOK_URL"
newline='
'
for name in $names; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "render.sh: $name is not set" >&2
    exit 1
  fi
  case "$value" in
    *"'"*|*"$newline"*) echo "render.sh: $name must not contain ' or a newline" >&2; exit 1 ;;
  esac
done
umask 077
tmp="$output.tmp"
rm -f "$tmp"
if ! awk -v names="$names" '
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
