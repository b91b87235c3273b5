// Create-heavy: POST /links at a constant arrival rate (the write path: gateway → links
// over gRPC → PostgreSQL and Redis), with a trickle of reads of the links just made.
// hop limits creates per user (RATE_LIMIT_CREATE_USER, 600/60 by default), so the creates
// are spread round-robin over enough accounts to keep each under 80% of its limit.
//
//   BASE_URL=http://127.0.0.1:8080 k6 run k6/create-heavy.js
//   RATE=200 k6 run k6/create-heavy.js      # 25 accounts: start hop with
//                                           # RATE_LIMIT_REGISTER_IP=off
//
// Knobs: RATE (creates/s, default 50), READ_RATE (reads/s, default RATE/10), DURATION
// (default 30s), USERS (default from RATE and RATE_LIMIT_CREATE_USER), LATENCY_SCALE,
// SUMMARY_DIR.
import http from "k6/http";
import { check } from "k6";
import exec from "k6/execution";
import { BASE_URL, KIND, SUMMARY_TREND_STATS, durationSeconds, envInt, errorRate, overall, perKind, summaryWriter, tagged } from "./lib/config.js";
import { createLink, makeUsers, pickUniform, randomHex, requireReady, seedLinks, usersNeeded } from "./lib/setup.js";

const RATE = Math.max(1, envInt("RATE", 50));
const READ_RATE = envInt("READ_RATE", Math.max(1, Math.floor(RATE / 10)));
const DURATION = __ENV.DURATION || "30s";
const SEEDS = 20;
const USERS = envInt("USERS", 0) || usersNeeded(RATE, SEEDS);
const PLANNED = (RATE + READ_RATE) * durationSeconds(DURATION);

function arrival(rate, exec) {
  return {
    executor: "constant-arrival-rate",
    exec,
    rate,
    timeUnit: "1s",
    duration: DURATION,
    // A create takes a few ms on a release build; allow for it to take 100x longer.
    preAllocatedVUs: Math.max(5, Math.ceil(rate / 10)),
    maxVUs: Math.max(50, rate * 2),
  };
}

export const options = {
  scenarios: Object.assign(
    { creates: arrival(RATE, "create") },
    READ_RATE > 0 ? { reads: arrival(READ_RATE, "read") } : {},
  ),
  thresholds: Object.assign(
    {
      http_req_failed: errorRate(0.001),
      checks: ["rate>0.999"],
      dropped_iterations: [`count<${Math.max(1, Math.ceil(PLANNED * 0.01))}`],
    },
    overall(100, 250),
    perKind({
      [KIND.create]: [100, 250],
      [KIND.read]: [50, 100],
    }),
  ),
  discardResponseBodies: true,
  setupTimeout: "180s",
  summaryTrendStats: SUMMARY_TREND_STATS,
  tags: { tier: "create-heavy" },
};

export function setup() {
  requireReady();
  const tokens = makeUsers("create-heavy", USERS);
  const { codes } = seedLinks(tokens, SEEDS, "create-heavy");
  return { tokens, codes, run: randomHex(6) };
}

export function create(data) {
  // Round-robin over the accounts by iteration, so each gets RATE / USERS creates/s.
  const n = exec.scenario.iterationInTest;
  const res = createLink(data.tokens[n % data.tokens.length], {
    url: `https://example.com/k6/create-heavy/${data.run}/${n}?q=${n % 97}`,
    title: `create-heavy ${n}`,
  });
  check(res, { "create: 201": (r) => r.status === 201 });
}

export function read(data) {
  const res = http.get(`${BASE_URL}/links/${pickUniform(data.codes)}`, tagged(KIND.read));
  check(res, { "read: 200": (r) => r.status === 200 });
}

export const handleSummary = summaryWriter("create-heavy");
