// Baseline: 50 virtual users, the everyday load. Mostly redirects (90%) over a skewed
// set of links, plus API reads, lists and creates, each VU thinking ~0.5 s between
// requests. The thresholds are hop's targets on a release build: redirects p99 well
// under 50 ms, nearly no errors.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/baseline.js
//
// Knobs (see k6/lib/tier.js): VUS, DURATION (default 30s), RAMP, THINK, LINKS, USERS,
// ZIPF_S, LATENCY_SCALE, SUMMARY_DIR.
import { KIND, errorRate, overall, perKind } from "./lib/config.js";
import { tier } from "./lib/tier.js";

const t = tier({
  name: "baseline",
  vus: 50,
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.001),
      checks: ["rate>0.999"],
    },
    overall(20, 50),
    perKind({
      [KIND.redirect]: [10, 25],
      [KIND.read]: [50, 100],
      [KIND.list]: [100, 200],
      [KIND.create]: [100, 250],
    }),
  ),
});

export const options = t.options;
export const setup = t.setup;
export default t.run;
export const handleSummary = t.handleSummary;
