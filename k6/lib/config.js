// Shared settings for every k6 scenario: where hop is, threshold helpers, and the
// end-of-test summary (a JSON file per scenario plus a short text report on stdout).
//
// Environment (all optional):
//   BASE_URL       hop's public address (default http://127.0.0.1:8080)
//   SUMMARY_DIR    where <scenario>.json is written (default k6/results; must exist)
//   LATENCY_SCALE  multiplies every latency threshold (default 1; e.g. 5 for a debug build)

export const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");

const SCALE = Number(__ENV.LATENCY_SCALE || "1");
if (!(SCALE > 0)) {
  throw new Error(`LATENCY_SCALE must be a positive number, not ${__ENV.LATENCY_SCALE}`);
}

// Trend statistics kept in the summary: p(99) for the thresholds, count for the report.
export const SUMMARY_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"];

// The request kinds, used as the `name` tag of every request so thresholds and the
// summary can be per kind.
export const KIND = {
  redirect: "GET /{code}",
  redirectUnknown: "GET /{code} (unknown)",
  read: "GET /links/{code}",
  list: "GET /links",
  create: "POST /links",
  seed: "POST /links (seed)",
  patch: "PATCH /links/{code}",
  remove: "DELETE /links/{code}",
  readDeleted: "GET /links/{code} (deleted)",
  stats: "GET /links/{code}/stats",
  register: "POST /auth/register",
  login: "POST /auth/login",
  ready: "GET /health/ready",
};

/** An integer from the environment, or the default. */
export function envInt(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not ${raw}`);
  return Math.floor(n);
}

/** A number from the environment, or the default. */
export function envFloat(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not ${raw}`);
  return n;
}

/** A k6 duration string ("30s", "1m30s", "500ms", "2h") in seconds. */
export function durationSeconds(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let matched = "";
  let m;
  while ((m = re.exec(text)) !== null) {
    const n = Number(m[1]);
    total += m[2] === "ms" ? n / 1000 : m[2] === "s" ? n : m[2] === "m" ? n * 60 : n * 3600;
    matched += m[0];
  }
  if (matched !== text || matched === "") throw new Error(`not a duration: ${text}`);
  return total;
}

/** ["p(95)<X", "p(99)<Y"] in milliseconds, scaled by LATENCY_SCALE. */
export function latency(p95ms, p99ms) {
  return [`p(95)<${round(p95ms * SCALE)}`, `p(99)<${round(p99ms * SCALE)}`];
}

/** ["rate<X"] for http_req_failed (a share of requests, 0.01 = 1%). */
export function errorRate(max) {
  return [`rate<${max}`];
}

/**
 * Thresholds for a set of request kinds: {kindName: [p95, p99]} →
 * {"http_req_duration{name:kindName}": ["p(95)<p95", "p(99)<p99"], ...}.
 */
export function perKind(limits) {
  const out = {};
  for (const [name, [p95, p99]] of Object.entries(limits)) {
    out[`http_req_duration{name:${name}}`] = latency(p95, p99);
  }
  return out;
}

/**
 * Request params: the `name` tag, and the `phase` tag ("load" unless `extraTags` says
 * "setup"), merged into the given params. Thresholds on `{phase:load}` leave out the
 * requests setup() makes to create its data.
 */
export function tagged(name, params = {}, extraTags = {}) {
  return Object.assign({}, params, {
    tags: Object.assign({ name, phase: "load" }, extraTags, params.tags || {}),
  });
}

/** Latency thresholds over every request of the load phase (setup() left out). */
export function overall(p95ms, p99ms) {
  return { "http_req_duration{phase:load}": latency(p95ms, p99ms) };
}

function round(n) {
  return Math.round(n * 100) / 100;
}

/**
 * handleSummary for a scenario: writes k6's summary data (less setup()'s return value) as
 * SUMMARY_DIR/<scenario>.json and prints a short text report.
 */
export function summaryWriter(scenario) {
  return function handleSummary(data) {
    const dir = (__ENV.SUMMARY_DIR || "k6/results").replace(/\/+$/, "");
    const out = { stdout: textSummary(scenario, data) };
    // setup() data holds access tokens (and every seeded code): not worth keeping.
    const kept = Object.assign({}, data);
    delete kept.setup_data;
    out[`${dir}/${scenario}.json`] = JSON.stringify(kept, null, 2);
    return out;
  };
}

function ms(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return "-";
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(2)} ms`;
}

function pct(v) {
  return v === undefined || v === null ? "-" : `${(v * 100).toFixed(2)}%`;
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

function lpad(s, n) {
  s = String(s);
  return s.length >= n ? s : " ".repeat(n - s.length) + s;
}

/** A short text report: totals, latency, errors, per-kind latency, thresholds. */
export function textSummary(scenario, data) {
  const m = data.metrics || {};
  const v = (name) => (m[name] && m[name].values) || {};
  const reqs = v("http_reqs");
  // Latency of the load phase when a threshold made k6 keep it, else of every request.
  const loadDur = m["http_req_duration{phase:load}"];
  const dur = (loadDur && loadDur.values) || v("http_req_duration");

  const failed = v("http_req_failed");
  const checks = v("checks");
  const seconds = ((data.state && data.state.testRunDurationMs) || 0) / 1000;
  const lines = [];
  lines.push("");
  lines.push(`hop k6 — ${scenario} (${seconds.toFixed(1)} s, ${BASE_URL})`);
  const loadCount = loadDur && loadDur.values ? loadDur.values.count : undefined;
  lines.push(
    `  requests    ${reqs.count || 0}  (${(reqs.rate || 0).toFixed(1)}/s)` +
      (loadCount !== undefined ? `, ${loadCount} in the load phase` : ""),
  );
  lines.push(`  latency     p95 ${ms(dur["p(95)"])}  p99 ${ms(dur["p(99)"])}  max ${ms(dur.max)}` +
    (loadDur ? "  (load phase)" : "  (all requests, setup included)"));
  lines.push(`  error rate  ${pct(failed.rate)}  (${failed.passes || 0} failed requests)`);
  if (checks.passes !== undefined) {
    lines.push(`  checks      ${pct(checks.rate)}  (${checks.passes} passed, ${checks.fails} failed)`);
  }
  const dropped = v("dropped_iterations");
  if (dropped.count) lines.push(`  dropped     ${dropped.count} iterations (not enough VUs for the rate)`);
  const vusMax = v("vus_max");
  if (vusMax.max) lines.push(`  VUs         ${v("vus").max || 0} active at most (sampled), ${vusMax.max} allocated`);

  // Per request kind: every `http_req_duration{name:...}` submetric (those with thresholds).
  const kinds = Object.keys(m)
    .filter((k) => k.startsWith("http_req_duration{name:"))
    .sort();
  if (kinds.length) {
    lines.push("  per request kind:");
    for (const k of kinds) {
      const kv = m[k].values || {};
      const label = k.slice("http_req_duration{name:".length, -1);
      lines.push(
        `    ${pad(label, 26)} ${lpad(kv.count || 0, 8)} reqs  p95 ${lpad(ms(kv["p(95)"]), 10)}  p99 ${lpad(ms(kv["p(99)"]), 10)}`,
      );
    }
  }

  // Thresholds: every metric (or submetric) that has any.
  let allOk = true;
  const tlines = [];
  for (const name of Object.keys(m).sort()) {
    const th = m[name].thresholds;
    if (!th) continue;
    for (const [expr, res] of Object.entries(th)) {
      const ok = res && res.ok;
      if (!ok) allOk = false;
      tlines.push(`    ${ok ? "pass" : "FAIL"}  ${name}  ${expr}`);
    }
  }
  if (tlines.length) {
    lines.push("  thresholds:");
    lines.push(...tlines);
  }
  lines.push(`  result: ${allOk ? "PASS" : "FAIL (thresholds crossed)"}`);
  lines.push("");
  return lines.join("\n") + "\n";
}
