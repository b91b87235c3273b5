#!/usr/bin/env bash
# The image's contract, checked without a container engine. This machine has none, and no
# registry to pull the base images from, so the image itself is built and run by the
# release pipeline (.github/workflows), not here. What can be checked here, is:
#
#   1. the runtime stage of infra/Dockerfile, read from the file: its base is distroless
#      cc (glibc, libgcc; nothing else), it runs `hop up` as 10001:10001 with
#      HOP_DATA_DIR on the volume, and exposes 8080;
#   2. the binary needs no shared library that base lacks, and no newer glibc than its
#      Debian 12 (2.36);
#   3. run the way `docker run -p 8080:8080 -v hop-data:/data IMAGE` runs it: the image's
#      environment and nothing else (no DATABASE_URL, no REDIS_URL), as uid 10001, its
#      command line, in a private network namespace with only loopback (no PostgreSQL or
#      Redis reachable), on port 8080, the data directory a fresh 0700 directory owned
#      by 10001 as the image creates it: it serves, a link made there redirects, and
#      after a stop and a start on the same directory it still does; what it wrote is
#      10001's and the secret is 0600.
#
#   scripts/check-image.sh     (HOP_BIN: the binary, default target/debug/hop)
#
# Step 3 needs root (unshare -n, setpriv); without it, it is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

HOP=${HOP_BIN:-target/debug/hop}

if [ "${1:-}" = --inside ]; then
  # In the private network namespace: $2 the work directory, $3 the user, then the
  # image's environment up to "--", then its command line.
  work=$2 user=$3
  shift 3
  image_env=()
  while [ "$1" != -- ]; do image_env+=("$1"); shift; done
  shift
  ip link set lo up
  start() {
    env -i "${image_env[@]}" setpriv --reuid "${user%:*}" --regid "${user#*:}" --clear-groups \
      "$HOP" "$@" >>"$work/hop.log" 2>&1 &
    HOP_PID=$!
    for _ in $(seq 1 300); do
      curl -fsS -o /dev/null "http://127.0.0.1:8080/health/ready" 2>/dev/null && return 0
      kill -0 "$HOP_PID" 2>/dev/null || break
      sleep 0.1
    done
    echo "hop did not serve on :8080 as the image runs it:" >&2
    tail -n 20 "$work/hop.log" >&2
    return 1
  }
  stop() { kill -TERM "$HOP_PID"; wait "$HOP_PID" || true; }
  post() { curl -fsS -X POST "http://127.0.0.1:8080$1" -H 'content-type: application/json' "${@:3}" -d "$2"; }
  field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
  follow() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:8080/$1"; }

  start "$@"
  account='{"email":"image@example.com","password":"correct horse battery staple"}'
  post /auth/register "$account" >/dev/null
  token=$(post /auth/login "$account" | field access_token)
  code=$(post /links '{"url":"https://example.com/from-the-image"}' -H "Authorization: Bearer $token" | field code)
  [ "$(follow "$code")" = "302 https://example.com/from-the-image" ] \
    || { echo "a link made in the image's run does not redirect" >&2; exit 1; }
  echo "  serves on :8080 with no database or Redis settings; a new link redirects" >&2
  stop
  start "$@"
  [ "$(follow "$code")" = "302 https://example.com/from-the-image" ] \
    || { echo "after a stop and a start on the same volume, the link is gone" >&2; exit 1; }
  stop
  echo "  stopped and started again on the same volume: the link still redirects" >&2
  exit 0
fi

[ -x "$HOP" ] || cargo build --locked -q -p hop

echo "--- infra/Dockerfile's runtime stage" >&2
eval "$(python3 - infra/Dockerfile <<'PY'
import json, re, shlex, sys
text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
stage = []
for line in lines:
    if line.upper().startswith("FROM "):
        stage = []
    stage.append(line)
base = stage[0].split()[1]
env, user, cmd, entry, expose, volume = [], "", [], [], [], ""
for line in stage[1:]:
    word, _, rest = line.partition(" ")
    word = word.upper()
    if word == "ENV":
        env += shlex.split(rest)
    elif word == "USER":
        user = rest.strip()
    elif word == "CMD":
        cmd = json.loads(rest)
    elif word == "ENTRYPOINT":
        entry = json.loads(rest)
    elif word == "EXPOSE":
        expose += rest.split()
    elif word == "VOLUME":
        volume = rest.strip()
print(f"IMG_BASE={shlex.quote(base)}")
print("IMG_ENV=(" + " ".join(shlex.quote(e) for e in env) + ")")
print(f"IMG_USER={shlex.quote(user)}")
print("IMG_ARGS=(" + " ".join(shlex.quote(a) for a in (entry[1:] + cmd)) + ")")
print(f"IMG_ENTRY={shlex.quote(entry[0] if entry else '')}")
print(f"IMG_EXPOSE={shlex.quote(' '.join(expose))}")
print(f"IMG_VOLUME={shlex.quote(volume)}")
PY
)"
case "$IMG_BASE" in
  gcr.io/distroless/cc-debian12*) ;;
  *) echo "the runtime base is $IMG_BASE: this check knows distroless cc-debian12 only" >&2; exit 1 ;;
esac
[ "$IMG_USER" = 10001:10001 ] || { echo "the image runs as '$IMG_USER', not 10001:10001" >&2; exit 1; }
[ "${IMG_ARGS[*]}" = up ] || { echo "the image runs '${IMG_ARGS[*]}', not 'up'" >&2; exit 1; }
[[ " $IMG_EXPOSE " == *" 8080 "* ]] || { echo "the image does not expose 8080" >&2; exit 1; }
data_dir=""
for pair in "${IMG_ENV[@]}"; do
  case "$pair" in
    HOP_DATA_DIR=*) data_dir=${pair#HOP_DATA_DIR=} ;;
    DATABASE_URL=*|DATABASE_HOST=*|REDIS_URL=*) echo "the image sets ${pair%%=*}: it would not run alone" >&2; exit 1 ;;
  esac
done
[ -n "$data_dir" ] && [ "$data_dir" = "$IMG_VOLUME" ] \
  || { echo "HOP_DATA_DIR ($data_dir) is not the image's volume ($IMG_VOLUME)" >&2; exit 1; }
echo "  $IMG_BASE, user $IMG_USER, '${IMG_ENTRY} ${IMG_ARGS[*]}', HOP_DATA_DIR on the volume $IMG_VOLUME, port 8080" >&2

echo "--- the binary's libraries against the base" >&2
# distroless cc-debian12 holds Debian 12's glibc (2.36) and libgcc_s, and nothing else.
allowed="linux-vdso.so.1 libc.so.6 libm.so.6 libgcc_s.so.1 ld-linux-x86-64.so.2 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1"
for lib in $(ldd "$HOP" | awk '{print $1}' | xargs -n1 basename); do
  [[ " $allowed " == *" $lib "* ]] || { echo "$HOP needs $lib, which the base does not have" >&2; exit 1; }
done
newest=$(objdump -T "$HOP" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
[ "$(printf '%s\n' "${newest#GLIBC_}" 2.36 | sort -V | tail -n 1)" = 2.36 ] \
  || { echo "$HOP needs $newest, newer than the base's glibc 2.36" >&2; exit 1; }
echo "  $(ldd "$HOP" | awk '{print $1}' | xargs -n1 basename | tr '\n' ' ')(newest symbol $newest)" >&2

echo "--- run as the image runs it" >&2
if [ "$(id -u)" != 0 ]; then
  echo "  skipped: needs root (a private network namespace, uid 10001)" >&2
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 0755 "$WORK"
# The image's /data: made by `install -d -m 0700` and copied with --chown=10001:10001.
install -d -m 0700 -o "${IMG_USER%:*}" -g "${IMG_USER#*:}" "$WORK/data"
run_env=(PATH=/usr/local/bin:/usr/bin:/bin)
for pair in "${IMG_ENV[@]}"; do
  case "$pair" in
    HOP_DATA_DIR=*) run_env+=("HOP_DATA_DIR=$WORK/data") ;;
    *) run_env+=("$pair") ;;
  esac
done
# The image's /usr/local/bin/hop, installed as the builder stage installs it.
install -D -m 0755 "$HOP" "$WORK/bin/hop"
export HOP_BIN=$WORK/bin/hop
unshare -n "$0" --inside "$WORK" "$IMG_USER" "${run_env[@]}" -- "${IMG_ARGS[@]}"
bad=$(find "$WORK/data" ! -user "${IMG_USER%:*}" | head -n 1)
[ -z "$bad" ] || { echo "$bad is not owned by ${IMG_USER%:*}" >&2; exit 1; }
[ "$(stat -c %a "$WORK/data")" = 700 ] || { echo "the data directory is not 0700" >&2; exit 1; }
[ "$(stat -c %a "$WORK/data/secret")" = 600 ] || { echo "the secret is not 0600" >&2; exit 1; }
echo "  everything in the volume is 10001's; the directory 0700, the secret 0600" >&2
echo "ok" >&2
