// The load tiers (baseline, horde, tsunami, max): N virtual users, each looping over a
// weighted mix of requests with think time between them. Mostly redirects (about 90%)
// over a Zipf-skewed set of seeded links, plus API reads, lists and creates.
//
// Environment (all optional):
//   VUS       the tier's virtual users (default: the tier's own number)
//   DURATION  how long the tier holds its VUs (default 30s); for max, how long it ramps
//   RAMP      how long it takes to reach VUS (default 10s; for max, DURATION)
//   HOLD      max only: how long it holds VUS after the ramp (default 10s)
//   THINK     mean think time between requests, seconds (default 0.5; 0 = closed loop)
//   LINKS     links seeded in setup (default 300)
//   USERS     accounts the creates are spread over (default: enough to stay under 80%
//             of RATE_LIMIT_CREATE_USER at the most creates the tier can make)
//   ZIPF_S    popularity skew of the redirects (default 1.0)

import http from "k6/http";
import { check, sleep } from "k6";
import exec from "k6/execution";
import { BASE_URL, KIND, SUMMARY_TREND_STATS, envFloat, envInt, summaryWriter, tagged } from "./config.js";
import { authHeaders, createLink, makeUsers, randomHex, requireReady, seedLinks, usersNeeded, zipfPicker } from "./setup.js";

/**
 * A tier's exports. `spec`: {name, vus, thresholds, mix?, ramped?}; `mix` gives the
 * shares of redirect, read, list and create (they must add up to 1); `ramped` makes the
 * ramp the main phase (max: find the ceiling).
 */
export function tier(spec) {
  const mix = Object.assign({ redirect: 0.9, read: 0.06, list: 0.02, create: 0.02 }, spec.mix || {});
  const total = mix.redirect + mix.read + mix.list + mix.create;
  if (Math.abs(total - 1) > 1e-9) throw new Error(`${spec.name}: the mix adds up to ${total}, not 1`);

  const vus = envInt("VUS", spec.vus);
  const duration = __ENV.DURATION || "30s";
  const think = envFloat("THINK", 0.5);
  const links = envInt("LINKS", 300);
  const zipfS = envFloat("ZIPF_S", 1.0);
  // The most creates per second the tier can make: every VU at full speed (with think time
  // bounding it; without think time, assume 20 ms per request).
  const perVuRate = 1 / Math.max(think, 0.02);
  const users = envInt("USERS", 0) || usersNeeded(vus * perVuRate * mix.create, links);

  const stages = spec.ramped
    ? [
        { duration: __ENV.RAMP || duration, target: vus },
        { duration: __ENV.HOLD || "10s", target: vus },
        { duration: "5s", target: 0 },
      ]
    : [
        { duration: __ENV.RAMP || "10s", target: vus },
        { duration, target: vus },
        { duration: "5s", target: 0 },
      ];

  const options = {
    scenarios: {
      [spec.name]: {
        executor: "ramping-vus",
        startVUs: 0,
        stages,
        gracefulRampDown: "5s",
      },
    },
    thresholds: spec.thresholds,
    discardResponseBodies: true,
    maxRedirects: 0,
    setupTimeout: "180s",
    summaryTrendStats: SUMMARY_TREND_STATS,
    tags: { tier: spec.name },
  };

  function setup() {
    requireReady();
    const tokens = makeUsers(spec.name, users);
    const { codes } = seedLinks(tokens, links, spec.name);
    return { tokens, codes, run: randomHex(6) };
  }

  let picker = null; // per VU, built on its first iteration

  function run(data) {
    if (picker === null) picker = zipfPicker(data.codes, zipfS);
    const r = Math.random();
    if (r < mix.redirect) {
      const res = http.get(`${BASE_URL}/${picker.pick()}`, tagged(KIND.redirect, { redirects: 0 }));
      check(res, { "redirect: 302": (x) => x.status === 302 });
    } else if (r < mix.redirect + mix.read) {
      const res = http.get(`${BASE_URL}/links/${picker.pick()}`, tagged(KIND.read));
      check(res, { "read: 200": (x) => x.status === 200 });
    } else if (r < mix.redirect + mix.read + mix.list) {
      const token = data.tokens[exec.vu.idInTest % data.tokens.length];
      const res = http.get(`${BASE_URL}/links?limit=20`, tagged(KIND.list, { headers: authHeaders(token) }));
      check(res, { "list: 200": (x) => x.status === 200 });
    } else {
      const token = data.tokens[exec.vu.idInTest % data.tokens.length];
      const res = createLink(token, {
        url: `https://example.com/k6/${spec.name}/${data.run}/${exec.vu.idInTest}/${exec.vu.iterationInScenario}`,
      });
      check(res, { "create: 201": (x) => x.status === 201 });
    }
    if (think > 0) sleep(think * (0.5 + Math.random()));
  }

  return { options, setup, run, handleSummary: summaryWriter(spec.name) };
}
