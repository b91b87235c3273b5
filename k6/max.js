// Max: ramps up to 5000 virtual users to find the ceiling. The ramp is the test: VUs grow
// linearly over DURATION (default 30s), hold for HOLD (default 10s), then stop. Creates
// are 1% of the mix here (so their accounts stay few). The thresholds are loose; the run
// is aborted early once more than a quarter of requests fail (after 10 s), and the
// summary's "VUs up to" and request rate tell where hop gave out.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/max.js
//   VUS=1000 DURATION=60s k6 run k6/max.js     # a smaller ceiling, a slower ramp
//
// The k6 process itself needs memory and CPU for 5000 VUs; on a small machine it competes
// with hop, so read the result as the ceiling of the pair.
//
// Knobs (see k6/lib/tier.js): VUS, DURATION, HOLD, THINK, LINKS, USERS, ZIPF_S,
// LATENCY_SCALE, SUMMARY_DIR.
import { KIND, overall, perKind } from "./lib/config.js";
import { tier } from "./lib/tier.js";

const t = tier({
  name: "max",
  vus: 5000,
  ramped: true,
  mix: { redirect: 0.9, read: 0.07, list: 0.02, create: 0.01 },
  thresholds: Object.assign(
    {
      http_req_failed: [
        "rate<0.05",
        { threshold: "rate<0.25", abortOnFail: true, delayAbortEval: "10s" },
      ],
      checks: ["rate>0.95"],
    },
    overall(1000, 3000),
    perKind({
      [KIND.redirect]: [500, 2000],
      [KIND.read]: [2000, 5000],
      [KIND.list]: [2000, 5000],
      [KIND.create]: [2000, 5000],
    }),
  ),
});

export const options = t.options;
export const setup = t.setup;
export default t.run;
export const handleSummary = t.handleSummary;
