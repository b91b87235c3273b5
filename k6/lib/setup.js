// Data setup for the scenarios: accounts and tokens, seeded links, and a skewed code
// picker. Every create is authenticated (hop refuses anonymous creates unless started
// with ANONYMOUS_LINKS=true).
//
// Environment (all optional):
//   K6_ACCOUNT_PREFIX       reuse accounts <prefix>-<i>@k6.example.com across runs (an
//                           existing account is logged into; see "rate limits" below)
//   K6_PASSWORD             their password (default k6-load-password-123)
//   RATE_LIMIT_CREATE_USER  hop's per-user create limit, N/SECONDS (default 600/60, hop's
//                           default); used to spread creates over enough accounts
//
// Rate limits: hop allows 10 registrations per client IP per hour by default
// (RATE_LIMIT_REGISTER_IP), and 30 logins per IP per minute. Every request from k6 comes
// from one IP, so for load runs start hop with RATE_LIMIT_REGISTER_IP=off, or create the
// accounts once and reuse them with K6_ACCOUNT_PREFIX.

import http from "k6/http";
import { check, fail, sleep } from "k6";
import { BASE_URL, KIND, tagged } from "./config.js";

export const PASSWORD = __ENV.K6_PASSWORD || "k6-load-password-123";
const JSON_HEADERS = { "Content-Type": "application/json" };
const SETUP = { phase: "setup" };

/** Random lower-case hex of `n` characters (for unique emails, URLs and aliases). */
export function randomHex(n) {
  let s = "";
  while (s.length < n) s += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
  return s.slice(0, n);
}

/** Headers for a JSON request as the bearer of `token`. */
export function authHeaders(token) {
  return { "Content-Type": "application/json", Authorization: `Bearer ${token}` };
}

/**
 * hop's per-user create limit as {count, windowSecs}, from RATE_LIMIT_CREATE_USER
 * ("N/SECONDS", as hop reads it; default 600/60), or null when it is "off".
 */
export function createLimit() {
  const raw = (__ENV.RATE_LIMIT_CREATE_USER || "600/60").trim();
  if (raw === "off") return null;
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  if (!m || Number(m[1]) === 0 || Number(m[2]) === 0) {
    throw new Error(`RATE_LIMIT_CREATE_USER must be N/SECONDS or off, not ${raw}`);
  }
  return { count: Number(m[1]), windowSecs: Number(m[2]) };
}

/**
 * Accounts needed so that a run making `createsPerSecond` creates, after `seeds` links
 * made in setup, keeps every account under 80% of the per-user limit in any window (hop
 * counts in fixed windows, and the seeds land in the first one).
 */
export function usersNeeded(createsPerSecond, seeds = 0) {
  const limit = createLimit();
  if (limit === null) return 1;
  const perWindow = createsPerSecond * limit.windowSecs + seeds;
  return Math.max(1, Math.ceil(perWindow / (limit.count * 0.8)));
}

/**
 * Registers (or reuses) an account and logs in; returns its access token. `label` names
 * the scenario, `i` the account within it.
 */
export function registerAndLogin(label, i = 0, run = randomHex(8)) {
  const prefix = __ENV.K6_ACCOUNT_PREFIX;
  const email = prefix ? `${prefix}-${i}@k6.example.com` : `k6-${label}-${run}-${i}@k6.example.com`;
  const body = JSON.stringify({ email, password: PASSWORD });

  const reg = http.post(`${BASE_URL}/auth/register`, body, tagged(KIND.register, {
    headers: JSON_HEADERS,
    // 409: the account exists (reused with K6_ACCOUNT_PREFIX); logging in tells if the
    // password matches.
    responseCallback: http.expectedStatuses(201, 409),
  }, SETUP));
  if (reg.status === 429) {
    fail(
      `registration rate limited (429, Retry-After ${reg.headers["Retry-After"]} s): start hop with ` +
        "RATE_LIMIT_REGISTER_IP=off for load runs, or reuse accounts with K6_ACCOUNT_PREFIX",
    );
  }
  if (!check(reg, { "register: 201 (or 409 for a reused account)": (r) => r.status === 201 || r.status === 409 })) {
    fail(`register ${email}: HTTP ${reg.status} ${reg.body}`);
  }

  for (let attempt = 0; ; attempt++) {
    const res = http.post(`${BASE_URL}/auth/login`, body, tagged(KIND.login, {
      headers: JSON_HEADERS,
      responseType: "text",
      responseCallback: http.expectedStatuses(200, 429),
    }, SETUP));
    const retryAfter = Number(res.headers["Retry-After"] || "0");
    if (res.status === 429 && attempt < 2 && retryAfter <= 65) {
      console.warn(`login rate limited; waiting ${retryAfter} s (RATE_LIMIT_LOGIN_IP)`);
      sleep(retryAfter + 1);
      continue;
    }
    const token = res.status === 200 ? res.json("access_token") : undefined;
    if (!check(res, { "login: 200 with an access token": () => typeof token === "string" && token.length > 0 })) {
      fail(`login ${email}: HTTP ${res.status} ${res.body}`);
    }
    return token;
  }
}

/** `n` accounts for a scenario; returns their tokens. */
export function makeUsers(label, n) {
  const run = randomHex(8);
  const tokens = [];
  for (let i = 0; i < n; i++) tokens.push(registerAndLogin(label, i, run));
  return tokens;
}

/**
 * POST /links as the bearer of `token`; returns the response (body as text, so `.json()`
 * works even when the script discards bodies). `fields` are the link's fields.
 */
export function createLink(token, fields, name = KIND.create, extraTags = {}) {
  return http.post(`${BASE_URL}/links`, JSON.stringify(fields), tagged(name, {
    headers: authHeaders(token),
    responseType: "text",
  }, extraTags));
}

/**
 * Creates `n` links spread round-robin over `tokens`, 20 at a time; returns
 * {codes, owners}: owners[i] is the index in `tokens` of the owner of codes[i].
 */
export function seedLinks(tokens, n, label = "seed") {
  const run = randomHex(6);
  const codes = [];
  const owners = [];
  const batch = 20;
  for (let start = 0; start < n; start += batch) {
    const reqs = [];
    const who = [];
    for (let i = start; i < Math.min(n, start + batch); i++) {
      const owner = i % tokens.length;
      who.push(owner);
      reqs.push({
        method: "POST",
        url: `${BASE_URL}/links`,
        body: JSON.stringify({ url: `https://example.com/k6/${label}/${run}/${i}`, title: `k6 ${label} ${i}` }),
        params: tagged(KIND.seed, { headers: authHeaders(tokens[owner]), responseType: "text" }, SETUP),
      });
    }
    const responses = http.batch(reqs);
    responses.forEach((res, j) => {
      const ok = check(res, { "seed: 201 with a code": (r) => r.status === 201 && !!r.json("code") });
      if (!ok) fail(`seeding links: HTTP ${res.status} ${res.body}`);
      codes.push(res.json("code"));
      owners.push(who[j]);
    });
  }
  return { codes, owners };
}

/**
 * A picker over `items` with Zipf-like popularity: the item at rank r (0-based) is drawn
 * with weight 1 / (r + 1)^s. s = 1 is the classic web skew (the top 1% of 1,000 links
 * draw about 40% of requests); s = 0 is uniform.
 */
export function zipfPicker(items, s = 1.0) {
  if (!items.length) throw new Error("zipfPicker: no items");
  const cdf = new Float64Array(items.length);
  let sum = 0;
  for (let i = 0; i < items.length; i++) {
    sum += 1 / Math.pow(i + 1, s);
    cdf[i] = sum;
  }
  const pick = () => {
    const r = Math.random() * sum;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    index: pick,
    pick: () => items[pick()],
  };
}

/** A uniform pick from `items`. */
export function pickUniform(items) {
  return items[Math.floor(Math.random() * items.length)];
}

/** Fails setup unless hop answers /health/ready with 200. */
export function requireReady() {
  const res = http.get(`${BASE_URL}/health/ready`, tagged(KIND.ready, {}, SETUP));
  if (!check(res, { "health/ready: 200": (r) => r.status === 200 })) {
    fail(`hop at ${BASE_URL} is not ready: HTTP ${res.status} ${res.error || ""}`);
  }
}
