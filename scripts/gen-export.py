#!/usr/bin/env python3
"""Writes a generated export of the original system (seed-users.csv, seed-urls.csv,
seed-events.csv) for import benchmarks: 10,000 users, LINKS links with 6-character codes,
and as many events as links (half clicks, half `created`).

    scripts/gen-export.py DIR LINKS
"""
import random, string, sys

out, links = sys.argv[1], int(sys.argv[2])
users = 10_000
random.seed(7)
alphabet = string.ascii_letters + string.digits

with open(f"{out}/seed-users.csv", "w") as f:
    f.write("id,username,email,created_at\n")
    f.writelines(f"{i},user{i},user{i}@import.example,2025-01-01 00:00:00\n" for i in range(1, users + 1))

# Distinct codes without a set of millions: the id in base 62, padded, then shuffled by a
# fixed permutation of the alphabet per position (a bijection, so no two collide).
perms = [random.sample(alphabet, len(alphabet)) for _ in range(6)]
def code(i):
    chars = []
    for p in perms:
        i, r = divmod(i, 62)
        chars.append(p[r])
    return "".join(chars)

with open(f"{out}/seed-urls.csv", "w") as f:
    f.write("id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n")
    rnd = random.Random(11)
    for start in range(1, links + 1, 100_000):
        f.writelines(
            f"{i},{rnd.randint(1, users)},{code(i)},https://example.com/imported/{i},Link {i},True,2025-02-01 00:00:00,2025-02-02 00:00:00\n"
            for i in range(start, min(start + 100_000, links + 1)))

with open(f"{out}/seed-events.csv", "w") as f:
    f.write("id,url_id,user_id,event_type,timestamp,details\n")
    rnd = random.Random(13)
    for start in range(1, links + 1, 100_000):
        f.writelines(
            (f"{i},{rnd.randint(1, links)},,click,2025-03-01 12:{i % 60:02d}:00,\n" if i % 2
             else f"{i},{rnd.randint(1, links)},{rnd.randint(1, users)},created,2025-03-01 12:00:00,{{}}\n")
            for i in range(start, min(start + 100_000, links + 1)))
