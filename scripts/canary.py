#!/usr/bin/env python3
"""Makes sure the canary short link exists, then checks it redirects as the probe expects.

    HOP_API_KEY=hop_... scripts/canary.py https://sho.rt

Run at deploy time (the deploy job does, and docs/deploy.md says how elsewhere). The
blackbox exporter's `hop_canary` module (infra/blackbox/blackbox.yml) GETs
<public URL>/hop-canary without following it and wants a 30x whose Location is exactly
https://example.com/hop-canary. That target is fixed, so the probe needs no
per-deployment setting; example.com is reserved for examples, and nobody follows it.

The key needs the scopes links:read and links:write; the canary belongs to the key's
account (a dedicated "monitoring" account is best). Idempotent: an existing canary of
that account is left alone, or pointed back at the target if someone changed it (and
switched back on). If another account owns the code, this stops with an error instead of
touching that link. Exit 0 once GET /hop-canary answers the expected redirect.

Python 3 standard library only. The key is read from the environment, never from the
command line, and is never printed.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

CODE = "hop-canary"
TARGET = "https://example.com/hop-canary"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(method, url, key=None, body=None):
    """(status, headers, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", "hop-canary-bot/1 (scripts/canary.py)")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("X-Api-Key", key)
    try:
        with OPENER.open(request, timeout=15) as answer:
            status, headers, raw = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as answer:
        status, headers, raw = answer.code, answer.headers, answer.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, headers, parsed


def fail(message):
    print(f"canary: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    base = sys.argv[1].rstrip("/")
    key = os.environ.get("HOP_API_KEY", "")
    if not key:
        fail("set HOP_API_KEY to an API key with links:read and links:write")

    status, _, link = call("GET", f"{base}/links/{CODE}", key)
    if status == 404:
        status, _, body = call("POST", f"{base}/links", key, {
            "url": TARGET,
            "alias": CODE,
            "title": "hop canary: probed by the blackbox exporter, keep it",
            "tags": ["monitoring"],
        })
        if status != 201:
            fail(f"creating /{CODE} answered {status}: {json.dumps(body)}")
        print(f"canary: created /{CODE} -> {TARGET}", file=sys.stderr)
    elif status == 200:
        if "owner_id" not in (link or {}):
            fail(f"/{CODE} belongs to another account; it is left alone. Use that "
                 "account's key, or free the code")
        if link.get("url") != TARGET or not link.get("is_active", True):
            status, _, body = call("PATCH", f"{base}/links/{CODE}", key,
                                   {"url": TARGET, "is_active": True})
            if status != 200:
                fail(f"repairing /{CODE} answered {status}: {json.dumps(body)}")
            print(f"canary: /{CODE} pointed back at {TARGET}", file=sys.stderr)
        else:
            print(f"canary: /{CODE} already points at {TARGET}", file=sys.stderr)
    else:
        fail(f"GET /links/{CODE} answered {status}: {json.dumps(link)}")

    # What the probe sees. A create or an edit reaches every redirect instance within a
    # second; allow a few.
    deadline = time.monotonic() + 10
    while True:
        status, headers, _ = call("GET", f"{base}/{CODE}")
        location = headers.get("Location")
        if status in (301, 302, 307, 308) and location == TARGET:
            print(f"canary: GET /{CODE} answers {status} to {location}", file=sys.stderr)
            return
        if time.monotonic() > deadline:
            fail(f"GET /{CODE} answers {status} (Location {location!r}), not a redirect "
                 f"to {TARGET}")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
