#!/usr/bin/env bash
# The built image, run alone as the README says: `docker run -p 8080:8080 -v VOLUME:/data
# IMAGE`, with no database or Redis settings. It must serve, make a link that redirects,
# and still redirect it after a restart on the same volume. The release pipeline runs it
# on every image before pushing it (.github/workflows/ci-cd.yml, job `image`); it needs a
# Docker engine, which this repository's development machine does not have
# (scripts/check-image.sh checks the image's contract there instead).
#
#   scripts/smoke-image.sh IMAGE [HOST_PORT]     (HOST_PORT default 18080)
set -euo pipefail
IMAGE=${1:?usage: scripts/smoke-image.sh IMAGE [HOST_PORT]}
HOST_PORT=${2:-18080}
NAME=hop-smoke-$$
VOLUME=hop-smoke-$$
BASE=http://127.0.0.1:$HOST_PORT
cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker volume rm "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ready() {
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "the image did not serve $BASE/health/ready within 60 s:" >&2
  docker logs "$NAME" 2>&1 | tail -n 30 >&2
  return 1
}
post() { curl -fsS -X POST "$BASE$1" -H 'content-type: application/json' "${@:3}" -d "$2"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
follow() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$BASE/$1"; }

docker volume create "$VOLUME" >/dev/null
docker run -d --name "$NAME" -p "127.0.0.1:$HOST_PORT:8080" -v "$VOLUME:/data" "$IMAGE" >/dev/null
ready
account='{"email":"smoke@example.com","password":"correct horse battery staple"}'
post /auth/register "$account" >/dev/null
token=$(post /auth/login "$account" | field access_token)
code=$(post /links '{"url":"https://example.com/from-the-image"}' -H "Authorization: Bearer $token" | field code)
[ "$(follow "$code")" = "302 https://example.com/from-the-image" ] \
  || { echo "a new link does not redirect" >&2; exit 1; }
echo "the image serves alone on the embedded store; a new link redirects" >&2
docker restart "$NAME" >/dev/null
ready
[ "$(follow "$code")" = "302 https://example.com/from-the-image" ] \
  || { echo "after a restart on the same volume, the link is gone" >&2; exit 1; }
echo "after a restart on the same volume, the link still redirects" >&2
