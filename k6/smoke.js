// Smoke: one virtual user for ~12 s walking the whole public API, to prove a build works
// end to end before any load. setup() registers an account and logs in; each iteration
// creates a link (alternately with a minted code and an alias), reads it (publicly and as
// the owner), lists it, edits it, reads its stats, follows its redirect (not
// automatically: the 302 and its Location are checked), asks for an unknown code (404),
// checks readiness, deletes the link and sees it gone.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/smoke.js
//
// The thresholds are strict but sane for a debug build on a small, busy machine; every
// check must pass for the run to pass. scripts/k6-smoke.sh starts a throwaway hop and
// runs this.
//
// Knobs: DURATION (default 12s), LATENCY_SCALE, SUMMARY_DIR.
import http from "k6/http";
import { check, group, sleep } from "k6";
import exec from "k6/execution";
import { BASE_URL, KIND, SUMMARY_TREND_STATS, errorRate, latency, perKind, summaryWriter, tagged } from "./lib/config.js";
import { authHeaders, createLink, randomHex, registerAndLogin, requireReady } from "./lib/setup.js";

export const options = {
  scenarios: {
    smoke: { executor: "constant-vus", vus: 1, duration: __ENV.DURATION || "12s" },
  },
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.01),
      http_req_duration: latency(500, 1000),
      checks: ["rate>0.99"],
    },
    perKind({
      [KIND.redirect]: [250, 500],
      [KIND.redirectUnknown]: [250, 500],
      [KIND.create]: [500, 1000],
      [KIND.read]: [500, 1000],
      [KIND.list]: [500, 1000],
      [KIND.patch]: [500, 1000],
      [KIND.stats]: [500, 1000],
      [KIND.remove]: [500, 1000],
      [KIND.ready]: [250, 500],
      // argon2id, once each, in setup()
      [KIND.register]: [1000, 2000],
      [KIND.login]: [1000, 2000],
    }),
  ),
  maxRedirects: 0,
  summaryTrendStats: SUMMARY_TREND_STATS,
  tags: { tier: "smoke" },
};

export function setup() {
  requireReady();
  const token = registerAndLogin("smoke");
  return { token, run: randomHex(6) };
}

export default function (data) {
  const it = exec.scenario.iterationInTest;
  const auth = { headers: authHeaders(data.token) };
  const target = `https://example.com/k6/smoke/${data.run}/${it}`;
  const alias = it % 2 === 1 ? `k6-${data.run}-${it}` : undefined;

  // Create (authenticated: anonymous creates are off by default).
  let link = null;
  group("create", () => {
    const fields = { url: target, title: `smoke ${it}` };
    if (alias) fields.alias = alias;
    const res = createLink(data.token, fields);
    const body = res.status === 201 ? res.json() : {};
    const ok = check(res, {
      "create: 201": (r) => r.status === 201,
      "create: Location /links/{code}": (r) => r.headers["Location"] === `/links/${body.code}`,
      "create: minted code of 7 or the alias": () => (alias ? body.code === alias : /^[0-9A-Za-z]{7}$/.test(body.code || "")),
      "create: short_url ends with the code": () => typeof body.short_url === "string" && body.short_url.endsWith(`/${body.code}`),
      "create: redirect_type 302": () => body.redirect_type === 302,
    });
    if (ok) link = body;
  });
  if (!link) {
    sleep(1);
    return;
  }
  const code = link.code;

  group("read", () => {
    const pub = http.get(`${BASE_URL}/links/${code}`, tagged(KIND.read));
    check(pub, {
      "read: 200": (r) => r.status === 200,
      "read: the link's url": (r) => r.json("url") === link.url,
      "read: public view has no owner_id": (r) => r.json("owner_id") === undefined,
    });
    const own = http.get(`${BASE_URL}/links/${code}`, tagged(KIND.read, auth));
    check(own, {
      "read as owner: 200 with owner_id": (r) => r.status === 200 && !!r.json("owner_id"),
    });
  });

  group("list", () => {
    const res = http.get(`${BASE_URL}/links?limit=5`, tagged(KIND.list, auth));
    check(res, {
      "list: 200": (r) => r.status === 200,
      "list: newest first": (r) => r.json("items.0.code") === code,
    });
  });

  group("patch", () => {
    const res = http.patch(`${BASE_URL}/links/${code}`, JSON.stringify({ title: `smoke ${it} edited` }), tagged(KIND.patch, auth));
    check(res, {
      "patch: 200": (r) => r.status === 200,
      "patch: title changed": (r) => r.json("title") === `smoke ${it} edited`,
    });
  });

  group("stats", () => {
    const res = http.get(`${BASE_URL}/links/${code}/stats?unit=day`, tagged(KIND.stats, auth));
    check(res, {
      "stats: 200": (r) => r.status === 200,
      "stats: a series and a total": (r) => Array.isArray(r.json("series")) && typeof r.json("total") === "number",
    });
  });

  group("redirect", () => {
    const res = http.get(`${BASE_URL}/${code}`, tagged(KIND.redirect, { redirects: 0 }));
    check(res, {
      "redirect: 302": (r) => r.status === 302,
      "redirect: Location is the url": (r) => r.headers["Location"] === link.url,
    });
    const unknown = http.get(`${BASE_URL}/k6-missing-${data.run}-${it}`, tagged(KIND.redirectUnknown, {
      redirects: 0,
      responseCallback: http.expectedStatuses(404),
    }));
    check(unknown, { "unknown code: 404": (r) => r.status === 404 });
  });

  group("health", () => {
    const res = http.get(`${BASE_URL}/health/ready`, tagged(KIND.ready));
    check(res, { "health/ready: 200": (r) => r.status === 200 });
  });

  group("delete", () => {
    const res = http.del(`${BASE_URL}/links/${code}`, null, tagged(KIND.remove, auth));
    check(res, { "delete: 204": (r) => r.status === 204 });
    const gone = http.get(`${BASE_URL}/links/${code}`, tagged(KIND.readDeleted, {
      responseCallback: http.expectedStatuses(404),
    }));
    check(gone, { "deleted link: 404": (r) => r.status === 404 });
  });

  sleep(1);
}

export const handleSummary = summaryWriter("smoke");
