#!/usr/bin/env python3
"""Summarises scripts/load.sh's results: a Markdown table on stdout and an SVG chart.

    scripts/load-report.py docs/load docs/load-chart.svg

Reads docs/load/<target>/<scenario>.json (k6 summaries), docs/load/saturation.txt (wrk's
requests/s and the redirect process's cores) and docs/load/connections.txt (hold:
connections, held, requests/s, p50, p99, p99.9 ms, errors, redirect CPU in cores). The chart has one row per
scenario: throughput bars on the left, p95 and p99 bars on the right, one colour per
target. Standard library only.
"""

import json
import os
import sys
from html import escape

ORDER = ["smoke", "baseline", "horde", "tsunami", "max", "redirect-hot", "create-heavy", "mixed"]
COLOURS = {"up": "#3b6fb6", "edge": "#d9822b"}
LABELS = {"up": "hop up (one process)", "edge": "nginx + 2 redirect + 2 gateway + links + auth"}


def load(root):
    results = {}
    for target in sorted(os.listdir(root)):
        folder = os.path.join(root, target)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(folder, name)) as f:
                data = json.load(f)
            metrics = data.get("metrics", {})
            reqs = metrics.get("http_reqs", {}).get("values", {})
            dur = metrics.get("http_req_duration", {}).get("values", {})
            failed = metrics.get("http_req_failed", {}).get("values", {})
            thresholds_ok = all(
                t.get("ok", True)
                for m in metrics.values()
                for t in (m.get("thresholds") or {}).values()
            )
            results[(target, name[:-5])] = {
                "rps": reqs.get("rate", 0.0),
                "count": reqs.get("count", 0),
                "p95": dur.get("p(95)", 0.0),
                "p99": dur.get("p(99)", 0.0),
                "errors": failed.get("rate", 0.0),
                "ok": thresholds_ok,
            }
    return results


def table(results, connections, saturation):
    lines = [
        "| scenario | target | requests | req/s | p95 (ms) | p99 (ms) | errors | thresholds |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    targets = sorted({t for t, _ in results})
    for scenario in ORDER:
        for target in targets:
            r = results.get((target, scenario))
            if r is None:
                continue
            lines.append(
                f"| {scenario} | {target} | {r['count']:,} | {r['rps']:,.0f} | {r['p95']:.1f} | "
                f"{r['p99']:.1f} | {r['errors']:.2%} | {'pass' if r['ok'] else 'FAIL'} |"
            )
    if saturation:
        rps, cores = saturation
        lines += ["", f"saturation (wrk, 64 connections): {rps:,.0f} req/s on {cores:.2f} cores "
                      f"of the redirect process: {rps / cores:,.0f} req/s per core"]
    if connections:
        lines += ["", "| keep-alive connections | held | req/s | p50 (ms) | p99 (ms) | p99.9 (ms) | errors | redirect CPU (cores) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c, held, rps, p50, p99, p999, errors, cores in connections:
            lines.append(f"| {c:,} | {held:,} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {p999:.2f} | {errors} | {cores:.2f} |")
    return "\n".join(lines)


def svg(results, path):
    scenarios = [s for s in ORDER if any((t, s) in results for t in COLOURS)]
    targets = [t for t in COLOURS if any((t, s) in results for s in scenarios)]
    row_h, bar_h, left, mid, width = 34, 12, 110, 470, 900
    top = 60
    height = top + row_h * len(scenarios) + 60
    max_rps = max((r["rps"] for r in results.values()), default=1) or 1
    max_lat = max((r["p99"] for r in results.values()), default=1) or 1
    lat_scale = (width - mid - 40) / max_lat
    rps_scale = (mid - left - 60) / max_rps
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">hop under k6: throughput and latency per scenario</text>',
        f'<text x="{left}" y="{top - 12}" font-weight="bold">requests/s</text>',
        f'<text x="{mid}" y="{top - 12}" font-weight="bold">p95 (light) and p99 (dark), ms</text>',
    ]
    for i, scenario in enumerate(scenarios):
        y = top + i * row_h
        out.append(f'<text x="{left - 8}" y="{y + row_h / 2 + 4}" text-anchor="end">{escape(scenario)}</text>')
        for j, target in enumerate(targets):
            r = results.get((target, scenario))
            if r is None:
                continue
            by = y + 4 + j * (bar_h + 2)
            colour = COLOURS[target]
            w = max(1.0, r["rps"] * rps_scale)
            out.append(f'<rect x="{left}" y="{by}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{by + bar_h - 2}">{r["rps"]:,.0f}</text>')
            w95 = max(1.0, r["p95"] * lat_scale)
            w99 = max(1.0, r["p99"] * lat_scale)
            out.append(f'<rect x="{mid}" y="{by}" width="{w99:.1f}" height="{bar_h}" fill="{colour}"/>')
            out.append(f'<rect x="{mid}" y="{by}" width="{w95:.1f}" height="{bar_h}" fill="{colour}" fill-opacity="0.45"/>')
            mark = "" if r["ok"] else " (thresholds failed)"
            out.append(f'<text x="{mid + w99 + 4:.1f}" y="{by + bar_h - 2}">{r["p95"]:.1f} / {r["p99"]:.1f}{mark}</text>')
    ly = height - 30
    for j, target in enumerate(targets):
        x = left + j * 330
        out.append(f'<rect x="{x}" y="{ly - 10}" width="12" height="12" fill="{COLOURS[target]}"/>')
        out.append(f'<text x="{x + 18}" y="{ly}">{escape(LABELS[target])}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    root, chart = sys.argv[1], sys.argv[2]
    results = load(root)
    connections = []
    conn_file = os.path.join(root, "connections.txt")
    if os.path.exists(conn_file):
        for line in open(conn_file):
            c, held, rps, p50, p99, p999, errors, cores = line.split()
            connections.append((int(c), int(held), float(rps), float(p50), float(p99),
                                float(p999), int(errors), float(cores)))
    saturation = None
    sat_file = os.path.join(root, "saturation.txt")
    if os.path.exists(sat_file):
        _, rps, cores = open(sat_file).read().split()
        saturation = (float(rps), float(cores))
    print(table(results, connections, saturation))
    if connections:
        held = [c for c, h, _, _, p99, _, errors, _ in connections if p99 < 50 and errors == 0 and h == c]
        print(f"\nceiling: {max(held):,} connections held with p99 under 50 ms" if held
              else "\nceiling: no step held p99 under 50 ms")
    if results:
        svg(results, chart)
        print(f"\nchart: {chart}")


if __name__ == "__main__":
    main()
