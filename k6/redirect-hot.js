// Redirect, hot set: GET /{code} at a constant arrival rate over a few popular links,
// the path hop is built for (every lookup an in-process L1 hit). An open model: k6 starts
// RATE requests per second whatever the latency, so queueing shows up as latency and as
// dropped iterations rather than as a lower request rate.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/redirect-hot.js
//   RATE=5000 DURATION=1m k6 run k6/redirect-hot.js
//
// Knobs: RATE (requests/s, default 2000), DURATION (default 30s), HOT (links in the hot
// set, default 20), VUS_PRE / VUS_MAX (default sized from RATE), LATENCY_SCALE,
// SUMMARY_DIR.
import http from "k6/http";
import { check } from "k6";
import { BASE_URL, KIND, SUMMARY_TREND_STATS, durationSeconds, envInt, errorRate, overall, perKind, summaryWriter, tagged } from "./lib/config.js";
import { makeUsers, pickUniform, requireReady, seedLinks } from "./lib/setup.js";

const RATE = envInt("RATE", 2000);
const DURATION = __ENV.DURATION || "30s";
const HOT = Math.max(1, envInt("HOT", 20));
// A VU is busy for about one request's latency: at 10 ms each, RATE/100 VUs suffice.
// Start with twice that, and allow 20x for when hop (or the machine) slows down.
const PRE = envInt("VUS_PRE", Math.max(10, Math.ceil(RATE / 50)));
const MAX = Math.max(PRE, envInt("VUS_MAX", Math.max(100, Math.ceil(RATE / 5))));
// Iterations k6 could not start for want of a free VU: at most 1% of the planned ones.
const PLANNED = RATE * durationSeconds(DURATION);

export const options = {
  scenarios: {
    redirect_hot: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: PRE,
      maxVUs: MAX,
    },
  },
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.001),
      checks: ["rate>0.999"],
      dropped_iterations: [`count<${Math.max(1, Math.ceil(PLANNED * 0.01))}`],
    },
    overall(10, 25),
    perKind({ [KIND.redirect]: [10, 25] }),
  ),
  discardResponseBodies: true,
  maxRedirects: 0,
  setupTimeout: "120s",
  summaryTrendStats: SUMMARY_TREND_STATS,
  tags: { tier: "redirect-hot" },
};

export function setup() {
  requireReady();
  const tokens = makeUsers("redirect-hot", 1);
  const { codes } = seedLinks(tokens, HOT, "hot");
  // Warm: one request per code, so the measured requests are cache hits.
  for (const code of codes) {
    http.get(`${BASE_URL}/${code}`, tagged(KIND.redirect, { redirects: 0 }, { phase: "setup" }));
  }
  return { codes };
}

export default function (data) {
  const res = http.get(`${BASE_URL}/${pickUniform(data.codes)}`, tagged(KIND.redirect, { redirects: 0 }));
  check(res, { "redirect: 302": (r) => r.status === 302 });
}

export const handleSummary = summaryWriter("redirect-hot");
