// Mixed: the production shape at a constant arrival rate. About 95% redirects over a
// Zipf-skewed popularity (a few links draw most clicks), 4% creates and 1% edits
// (PATCH of a link's title by its owner, which evicts it from every cache while it is
// being read). Three scenarios share the RATE.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/mixed.js
//   RATE=2000 DURATION=2m k6 run k6/mixed.js
//
// Knobs: RATE (requests/s over all three, default 500), DURATION (default 30s), LINKS
// (seeded, default 300), ZIPF_S (skew, default 1.0), USERS (default from the create
// rate and RATE_LIMIT_CREATE_USER), LATENCY_SCALE, SUMMARY_DIR.
import http from "k6/http";
import { check } from "k6";
import { Counter } from "k6/metrics";
import exec from "k6/execution";
import { BASE_URL, KIND, SUMMARY_TREND_STATS, durationSeconds, envFloat, envInt, errorRate, overall, perKind, summaryWriter, tagged } from "./lib/config.js";
import { authHeaders, createLink, makeUsers, randomHex, requireReady, seedLinks, usersNeeded, zipfPicker } from "./lib/setup.js";

const RATE = Math.max(1, envInt("RATE", 500));
const DURATION = __ENV.DURATION || "30s";
const LINKS = Math.max(1, envInt("LINKS", 300));
const ZIPF_S = envFloat("ZIPF_S", 1.0);
// 95 / 4 / 1, each at least one per second.
const REDIRECT_RATE = Math.max(1, Math.round(RATE * 0.95));
const CREATE_RATE = Math.max(1, Math.round(RATE * 0.04));
const EDIT_RATE = Math.max(1, Math.round(RATE * 0.01));
const USERS = envInt("USERS", 0) || usersNeeded(CREATE_RATE, LINKS);
const PLANNED = (REDIRECT_RATE + CREATE_RATE + EDIT_RATE) * durationSeconds(DURATION);

function arrival(rate, fn) {
  return {
    executor: "constant-arrival-rate",
    exec: fn,
    rate,
    timeUnit: "1s",
    duration: DURATION,
    preAllocatedVUs: Math.max(5, Math.ceil(rate / 50)),
    maxVUs: Math.max(50, Math.ceil(rate / 5)),
  };
}

export const options = {
  scenarios: {
    redirects: arrival(REDIRECT_RATE, "redirect"),
    creates: arrival(CREATE_RATE, "create"),
    edits: arrival(EDIT_RATE, "edit"),
  },
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.001),
      checks: ["rate>0.999"],
      dropped_iterations: [`count<${Math.max(1, Math.ceil(PLANNED * 0.01))}`],
    },
    overall(15, 50),
    perKind({
      [KIND.redirect]: [10, 25],
      [KIND.create]: [100, 250],
      [KIND.patch]: [100, 250],
    }),
  ),
  discardResponseBodies: true,
  maxRedirects: 0,
  setupTimeout: "180s",
  summaryTrendStats: SUMMARY_TREND_STATS,
  tags: { tier: "mixed" },
};

export function setup() {
  requireReady();
  const tokens = makeUsers("mixed", USERS);
  const { codes, owners } = seedLinks(tokens, LINKS, "mixed");
  return { tokens, codes, owners, run: randomHex(6) };
}

let picker = null; // per VU

// Creates answered 201: every one must be in the database afterwards (a failover run of
// scripts/cluster.sh compares the two).
const createdOk = new Counter("hop_creates_ok");

export function redirect(data) {
  if (picker === null) picker = zipfPicker(data.codes, ZIPF_S);
  const res = http.get(`${BASE_URL}/${picker.pick()}`, tagged(KIND.redirect, { redirects: 0 }));
  check(res, { "redirect: 302": (r) => r.status === 302 });
}

export function create(data) {
  const n = exec.scenario.iterationInTest;
  const res = createLink(data.tokens[n % data.tokens.length], {
    url: `https://example.com/k6/mixed/${data.run}/${n}`,
  });
  if (check(res, { "create: 201": (r) => r.status === 201 })) createdOk.add(1);
}

export function edit(data) {
  // Edits follow the same popularity as clicks: popular links are edited more often.
  if (picker === null) picker = zipfPicker(data.codes, ZIPF_S);
  const i = picker.index();
  const n = exec.scenario.iterationInTest;
  const res = http.patch(
    `${BASE_URL}/links/${data.codes[i]}`,
    JSON.stringify({ title: `mixed edit ${n}` }),
    tagged(KIND.patch, { headers: authHeaders(data.tokens[data.owners[i]]) }),
  );
  check(res, { "edit: 200": (r) => r.status === 200 });
}

export const handleSummary = summaryWriter("mixed");
