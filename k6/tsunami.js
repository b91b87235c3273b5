// Tsunami: 500 virtual users, a traffic spike (a link going viral). The same mix as
// baseline; the thresholds allow queueing but not failing.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/tsunami.js
//
// Knobs (see k6/lib/tier.js): VUS, DURATION (default 30s), RAMP, THINK, LINKS, USERS,
// ZIPF_S, LATENCY_SCALE, SUMMARY_DIR.
import { KIND, errorRate, overall, perKind } from "./lib/config.js";
import { tier } from "./lib/tier.js";

const t = tier({
  name: "tsunami",
  vus: 500,
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.01),
      checks: ["rate>0.99"],
    },
    overall(100, 250),
    perKind({
      [KIND.redirect]: [50, 100],
      [KIND.read]: [250, 500],
      [KIND.list]: [400, 1000],
      [KIND.create]: [500, 1000],
    }),
  ),
});

export const options = t.options;
export const setup = t.setup;
export default t.run;
export const handleSummary = t.handleSummary;
