#!/bin/sh
# Renders alertmanager.yml.tmpl into a config file, filling ${VAR} placeholders from the
# environment, and refuses to render with a placeholder left empty. POSIX sh and sed only,
# so it runs in the prom/alertmanager image (busybox) as its entrypoint:
#
#   render.sh /etc/alertmanager/alertmanager.yml.tmpl /tmp/alertmanager.yml && \
#     exec alertmanager --config.file=/tmp/alertmanager.yml ...
set -eu
template=${1:?usage: render.sh TEMPLATE OUTPUT}
output=${2:?usage: render.sh TEMPLATE OUTPUT}
script=""
for name in ALERT_EMAIL_TO ALERT_EMAIL_FROM SMTP_SMARTHOST SMTP_USERNAME SMTP_PASSWORD DISCORD_WEBHOOK_URL; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "render.sh: $name is not set" >&2
    exit 1
  fi
  case "$value" in
    *"'"*|*"|"*) echo "render.sh: $name must not contain ' or |" >&2; exit 1 ;;
  esac
  script="$script s|\${$name}|$value|g;"
done
sed "$script" "$template" > "$output"
if grep -q '\${' "$output"; then
  echo "render.sh: unfilled placeholders remain in $output" >&2
  exit 1
fi
