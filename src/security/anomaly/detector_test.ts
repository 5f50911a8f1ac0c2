/** The anomaly detector's decisions, with an injected clock. */

import assert from "node:assert/strict";
import { AnomalyDetector, type AnomalyThresholds, SlidingCount } from "./mod.ts";

const T: AnomalyThresholds = {
  warmupMs: 1_000,
  windowMs: 60_000,
  rateLimit: 2,
  credentialDenials: 3,
  denialBurst: 4,
};

function detector(now: { t: number }, learned: string[] = [], firstSeenMs = 0) {
  return new AnomalyDetector(T, { firstSeenMs, learned }, () => now.t);
}

const ok = (tool: string) => ({ tool, status: "success", denial: null });
const refused = (tool: string | null, denial: string, status: string | null = "invalid") => ({
  tool,
  status,
  denial,
});

Deno.test("anomaly: a tool first called during the warm-up is learned silently", () => {
  const now = { t: 500 };
  const d = detector(now);
  const seen = d.observe(ok("get"));
  assert.deepEqual(seen, { anomalies: [], learned: "get" });
  assert.equal(d.inWarmup(), true);
  assert.deepEqual(d.observe(ok("get")), { anomalies: [], learned: null });
});

Deno.test("anomaly: a tool first called after the warm-up is a new_tool anomaly, once", () => {
  const now = { t: 0 };
  const d = detector(now, ["get"]);
  now.t = 1_000;
  assert.equal(d.observe(ok("get")).anomalies.length, 0);
  const seen = d.observe(ok("delete_all"));
  assert.equal(seen.learned, "delete_all");
  assert.deepEqual(seen.anomalies, [{
    kind: "new_tool",
    tool: "delete_all",
    count: 1,
    threshold: 1,
    windowMs: 0,
    suppressed: 0,
    at: 1_000,
  }]);
  assert.equal(d.observe(ok("delete_all")).anomalies.length, 0);
});

Deno.test("anomaly: a name the agent does not have is never learned", () => {
  const now = { t: 5_000 };
  const d = detector(now);
  const seen = d.observe(refused(null, "unknown_tool"));
  assert.equal(seen.learned, null);
  assert.equal(seen.anomalies.some((a) => a.kind === "new_tool"), false);
});

Deno.test("anomaly: rate-limit refusals below the threshold are not an anomaly", () => {
  const now = { t: 0 };
  const d = detector(now, ["get"]);
  assert.equal(d.observe(refused("get", "rate_limit", null)).anomalies.length, 0);
  now.t = 61_000; // the first one left the window
  assert.equal(d.observe(refused("get", "rate_limit", null)).anomalies.length, 0);
});

Deno.test("anomaly: rate_limit fires once per tool per window; the rest are counted as suppressed", () => {
  const now = { t: 0 };
  const d = detector(now, ["get", "put"]);
  const kinds = () => d.observe(refused("get", "rate_limit", null)).anomalies;
  assert.equal(kinds().length, 0);
  now.t = 10;
  const fired = kinds().filter((a) => a.kind === "rate_limit");
  assert.deepEqual(fired.map((a) => [a.tool, a.count, a.threshold, a.suppressed]), [
    ["get", 2, 2, 0],
  ]);
  for (let i = 0; i < 50; i++) {
    now.t = 20 + i;
    assert.equal(kinds().filter((a) => a.kind === "rate_limit").length, 0);
  }
  // Another tool has its own count.
  d.observe(refused("put", "rate_limit", null));
  assert.equal(
    d.observe(refused("put", "rate_limit", null)).anomalies.filter((a) => a.kind === "rate_limit")
      .length,
    1,
  );
  now.t = 60_010; // the quiet window ended
  assert.equal(kinds().filter((a) => a.kind === "rate_limit").length, 0);
  const again = kinds().filter((a) => a.kind === "rate_limit");
  assert.equal(again.length, 1);
  assert.equal(again[0].suppressed, 50);
});

Deno.test("anomaly: credential_denials needs N broker refusals within the window", () => {
  const now = { t: 0 };
  const d = detector(now, ["get"]);
  const deny = () =>
    d.observe(refused("get", "secret_denied", "denied")).anomalies.filter((a) =>
      a.kind === "credential_denials"
    );
  assert.equal(deny().length, 0);
  assert.equal(deny().length, 0);
  const fired = deny();
  assert.equal(fired.length, 1);
  assert.equal(fired[0].tool, "get");
  assert.equal(fired[0].count, 3);
  assert.equal(fired[0].windowMs, 60_000);
  // Other refusals are not credential denials.
  now.t = 200_000;
  for (let i = 0; i < 5; i++) {
    assert.equal(
      d.observe(refused("get", "tier")).anomalies.some((a) => a.kind === "credential_denials"),
      false,
    );
  }
});

Deno.test("anomaly: spread-out refusals are not a denial_burst; N within the window are", () => {
  const now = { t: 0 };
  const d = detector(now, ["get"]);
  for (let i = 0; i < 10; i++) {
    now.t = i * 30_000; // 2 per window at most
    assert.equal(
      d.observe(refused("get", "invalid")).anomalies.some((a) => a.kind === "denial_burst"),
      false,
    );
  }
  now.t = 1_000_000;
  const burst = [];
  for (let i = 0; i < 40; i++) burst.push(...d.observe(refused(null, "unknown_tool")).anomalies);
  assert.deepEqual(burst.map((a) => [a.kind, a.tool, a.count]), [["denial_burst", null, 4]]);
  // Successes are never counted.
  assert.equal(d.observe(ok("get")).anomalies.length, 0);
});

Deno.test("anomaly: tool_changed is one anomaly per tool per window", () => {
  const now = { t: 0 };
  const d = detector(now);
  assert.equal(d.toolChanged("get")?.kind, "tool_changed");
  assert.equal(d.toolChanged("get"), null);
  assert.equal(d.toolChanged("put")?.tool, "put");
  now.t = 60_000;
  assert.equal(d.toolChanged("get")?.suppressed, 1);
});

Deno.test("SlidingCount: the window is sliding, not tumbling", () => {
  const c = new SlidingCount(3, 100);
  assert.equal(c.add(0), null);
  assert.equal(c.add(90), null);
  assert.equal(c.add(100), null); // 0 left the window
  assert.deepEqual(c.add(150), { count: 3, suppressed: 0 }); // 90, 100, 150
});
