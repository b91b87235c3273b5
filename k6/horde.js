// Horde: 200 virtual users, a busy day. The same mix as baseline (90% redirects, API
// reads, lists and creates, ~0.5 s think time); creates are spread over enough accounts
// to stay under the per-user create limit. Thresholds relaxed from baseline.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/horde.js
//
// Knobs (see k6/lib/tier.js): VUS, DURATION (default 30s), RAMP, THINK, LINKS, USERS,
// ZIPF_S, LATENCY_SCALE, SUMMARY_DIR.
import { KIND, errorRate, overall, perKind } from "./lib/config.js";
import { tier } from "./lib/tier.js";

const t = tier({
  name: "horde",
  vus: 200,
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.005),
      checks: ["rate>0.995"],
    },
    overall(50, 100),
    perKind({
      [KIND.redirect]: [20, 50],
      [KIND.read]: [100, 250],
      [KIND.list]: [200, 400],
      [KIND.create]: [200, 500],
    }),
  ),
});

export const options = t.options;
export const setup = t.setup;
export default t.run;
export const handleSummary = t.handleSummary;
