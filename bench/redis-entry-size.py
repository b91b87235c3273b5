#!/usr/bin/env python3
"""Redis memory per link entry, as hop stores them (docs/capacity-plan.md, Sizing).

    bench/redis-entry-size.py [REDIS_URL-less: uses redis-cli's defaults, or -h/-p args]

Writes 100,000 entries shaped like hop's read model (key `<prefix>link:<code>`, value
`v3 <version> <id> <status> <active> <expires> <url>` with a URL of about 70 characters,
24 h TTL like REDIS_LINK_TTL_SECS) under a throwaway prefix, prints the growth of
`used_memory` per entry, and deletes them.
"""
import random
import string
import subprocess
import sys

REDIS_CLI = ["redis-cli", *sys.argv[1:]]


def used_memory():
    out = subprocess.run([*REDIS_CLI, "info", "memory"], capture_output=True, text=True, check=True).stdout
    return int(next(l for l in out.splitlines() if l.startswith("used_memory:")).split(":")[1])


def resp(*args):
    return (f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)).encode()


prefix = f"entrysize{random.randrange(10**9)}:"
n = 100_000
before = used_memory()
pipe = subprocess.Popen([*REDIS_CLI, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
alphabet = string.ascii_letters + string.digits
pipe.stdin.write(b"".join(
    resp("SET", f"{prefix}link:{''.join(random.choices(alphabet, k=7))}",
         f"v3 1 {1_000_000 + i} 302 1 - https://example.com/articles/{random.randint(1, 10**9)}/some-readable-slug-{i}",
         "EX", "86400")
    for i in range(n)
))
pipe.stdin.close()
pipe.wait()
after = used_memory()
print(f"{(after - before) / n:.0f} bytes per link entry ({n:,} entries)")
subprocess.run(f"{' '.join(REDIS_CLI)} --scan --pattern '{prefix}*' | xargs -r -n 1000 {' '.join(REDIS_CLI)} del >/dev/null",
               shell=True, check=False)
