/**
 * Anomaly detection through real parts: configs loaded by the real loader,
 * served by ServedAgent (its real gate, in-process executor and credential
 * broker), a real upstream and a real webhook receiver on loopback, the
 * real state database and audit log in a temp home, and the pins of
 * `mesh_pins.ts`. Each kind ends as an `anomaly` record; `/metrics` counts
 * them; alerts reach the receiver once per kind per window, and a refused
 * destination is recorded, not sent.
 */

import assert from "node:assert/strict";
import { type AgentConfig, parseConfig } from "../config/mod.ts";
import { LoomMetrics } from "../_util/loom_metrics.ts";
import { AuditLog, type AuditRecord, readAuditRecords } from "../security/audit/mod.ts";
import { type LoomHome, openStore, resolveHome } from "../store/mod.ts";
import { ServedAgent, type ServedAgentOptions } from "./served_agent.ts";
import { MeshPins } from "./mesh_pins.ts";
import { ctx } from "./_mesh_testing.ts";
import { startUpstream, tempDir, type Upstream } from "../../tests/_helpers.ts";

interface Receiver extends AsyncDisposable {
  url: string;
  bodies: Record<string, unknown>[];
}

function receiver(): Receiver {
  const bodies: Record<string, unknown>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    bodies.push(await req.json());
    return new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    bodies,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

interface Fixture extends AsyncDisposable {
  home: LoomHome;
  api: Upstream;
  audit: AuditLog;
  metrics: LoomMetrics;
  logs: string[];
  serve(config: AgentConfig, extra?: Partial<ServedAgentOptions>): Promise<ServedAgent>;
  anomalies(): Promise<AuditRecord[]>;
}

async function fixture(): Promise<Fixture> {
  const dir = await tempDir("loom-anomaly-");
  const api = await startUpstream(() => Response.json({ ok: true }));
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  const audit = await AuditLog.open(home.audit);
  const metrics = new LoomMetrics({ version: "0.0.0-test" });
  const agents: ServedAgent[] = [];
  const logs: string[] = [];
  return {
    home,
    api,
    audit,
    metrics,
    logs,
    async serve(config, extra = {}) {
      const agent = await ServedAgent.open(config, {
        home,
        audit,
        env: new Map(),
        transport: "stdio",
        version: "0.0.0-test",
        log: (line) => logs.push(line),
        metrics,
        ...extra,
      });
      agents.push(agent);
      return agent;
    },
    anomalies: async () =>
      (await readAuditRecords(home.audit, {})).filter((r) => r.event === "anomaly"),
    async [Symbol.asyncDispose]() {
      for (const a of agents) await a.close();
      await audit.close();
      await api.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** A tier 2 agent: `lookup` (1 call a minute), `keyed` (names a secret never granted). */
function config(url: string, anomaly: string, description = "Look something up"): AgentConfig {
  return parseConfig(
    `agent:
  name: watched
  exposes:
    - name: lookup
      description: ${description}
      parameters:
        q: { type: string, max_length: 10 }
      rate_limit: { per_minute: 1 }
    - name: keyed
      description: Read with a key
  http_bridge:
    - tool_name: lookup
      url: "${url}/lookup"
      query_params: { q: q }
    - tool_name: keyed
      url: "${url}/keyed"
      headers: { authorization: "Bearer {{secret:api-key}}" }
  runtime:
    trust_tier: 2
    sandbox: none
    anomaly:
${anomaly}`,
    { path: "watched.yaml" },
  );
}

const kindsOf = (records: AuditRecord[]) =>
  records.filter((r) => r.action === "detected").map((r) => `${r.kind}:${r.tool ?? "-"}`).sort();

Deno.test("anomaly monitor: each kind through a real gate is one anomaly record, counted on /metrics", async () => {
  await using f = await fixture();
  await using hook = receiver();
  const anomaly = `      warmup: 0\n      window: 1h\n      credential_denials: 2\n` +
    `      denial_burst: 6\n      webhook: "${hook.url}"\n`;
  const agent = await f.serve(config(f.api.url, anomaly));
  // A tool first called after a warm-up of 0: new_tool (and only once).
  assert.equal((await agent.gate.callTool("lookup", { q: "a" }, ctx())).isError, undefined);
  // The limit is 1 a minute: four refusals are one rate_limit record.
  for (let i = 0; i < 4; i++) {
    assert.equal((await agent.gate.callTool("lookup", { q: "a" }, ctx())).isError, true);
  }
  // A secret with no grant: the broker refuses it; two in the window.
  for (let i = 0; i < 2; i++) {
    assert.equal((await agent.gate.callTool("keyed", {}, ctx())).isError, true);
  }
  await agent.anomalies!.settled();
  const records = await f.anomalies();
  assert.deepEqual(kindsOf(records), [
    "credential_denials:keyed",
    "denial_burst:-",
    "new_tool:keyed",
    "new_tool:lookup",
    "rate_limit:lookup",
  ]);
  const rate = records.find((r) => r.kind === "rate_limit")!;
  assert.equal(rate.count, 1);
  assert.equal(rate.window_ms, 3_600_000);
  const burst = records.find((r) => r.kind === "denial_burst")!;
  assert.equal(burst.count, 6);
  assert.equal(burst.threshold, 6);
  // Names and counts only: no argument value in any record.
  assert.equal(JSON.stringify(records).includes('"q"'), false);
  assert.equal(f.api.requests.length, 1); // the one lookup that ran; `keyed` never left
  const text = f.metrics.render();
  assert.match(text, /loom_anomalies_total\{agent="watched",kind="rate_limit"\} 1\n/);
  assert.match(text, /loom_anomalies_total\{agent="watched",kind="new_tool"\} 2\n/);
  assert.match(text, /loom_anomalies_total\{agent="watched",kind="denial_burst"\} 1\n/);
  // One alert per kind: the second new_tool waits for the window (not sent while the test runs).
  const kinds = hook.bodies.map((b) => b.kind).sort();
  assert.deepEqual(kinds, ["credential_denials", "denial_burst", "new_tool", "rate_limit"]);
  const alert = hook.bodies.find((b) => b.kind === "rate_limit")!;
  assert.deepEqual(alert.tools, ["lookup"]);
  assert.equal(alert.agent, "watched");
  const delivered = records.filter((r) => r.action === "alert");
  assert.equal(delivered.length, 4);
  assert.ok(
    delivered.every((r) => r.result === "delivered" && r.webhook === new URL(hook.url).origin),
  );
  assert.match(text, /loom_anomaly_alerts_total\{agent="watched",result="delivered"\} 4\n/);
});

Deno.test("anomaly monitor: invalid arguments in a burst are one denial_burst; the rest stay quiet", async () => {
  await using f = await fixture();
  const agent = await f.serve(config(f.api.url, "      denial_burst: 5\n      window: 1h\n"));
  for (let i = 0; i < 30; i++) {
    const answer = await agent.gate.callTool("lookup", { q: "far too long to pass" }, ctx());
    assert.equal(answer.isError, true);
  }
  await agent.anomalies!.settled();
  // The default warm-up (24h) learns `lookup` silently.
  assert.deepEqual(kindsOf(await f.anomalies()), ["denial_burst:-"]);
});

Deno.test("anomaly monitor: the warm-up start and learned tools survive a restart", async () => {
  await using f = await fixture();
  let now = Date.parse("2026-01-01T00:00:00Z");
  const clock = { anomaly: { now: () => now } };
  const anomaly = "      warmup: 1h\n";
  const first = await f.serve(config(f.api.url, anomaly), clock);
  await first.gate.callTool("lookup", { q: "a" }, ctx()); // learned in the warm-up
  await first.close();
  {
    await using store = await openStore(f.home);
    assert.deepEqual(store.anomalyState.learned("watched"), ["lookup"]);
  }
  now += 2 * 3_600_000; // past the warm-up, started again
  const second = await f.serve(config(f.api.url, anomaly), clock);
  await second.gate.callTool("lookup", { q: "b" }, ctx());
  await second.gate.callTool("keyed", {}, ctx());
  await second.anomalies!.settled();
  assert.deepEqual(kindsOf(await f.anomalies()), ["new_tool:keyed"]);
});

Deno.test("anomaly monitor: enabled false records nothing", async () => {
  await using f = await fixture();
  const agent = await f.serve(config(f.api.url, "      enabled: false\n      warmup: 0\n"));
  assert.equal(agent.anomalies, undefined);
  await agent.gate.callTool("lookup", { q: "a" }, ctx());
  await agent.gate.callTool("lookup", { q: "a" }, ctx());
  assert.deepEqual(await f.anomalies(), []);
});

Deno.test("anomaly monitor: a changed pinned definition is a tool_changed anomaly", async () => {
  await using f = await fixture();
  const pins = await MeshPins.open(f.home, f.audit, (line) => f.logs.push(line));
  try {
    const v1 = await f.serve(config(f.api.url, "      window: 1h\n"));
    await pins.check([{ agent: v1, pinnedListing: new Map() }]);
    await v1.close();
    const v2 = await f.serve(
      config(f.api.url, "      window: 1h\n", "Look something up and mail it elsewhere"),
    );
    await pins.check([{ agent: v2, pinnedListing: new Map() }]);
    await v2.anomalies!.settled();
    const records = await f.anomalies();
    assert.deepEqual(kindsOf(records), ["tool_changed:lookup"]);
    assert.match(
      f.metrics.render(),
      /loom_anomalies_total\{agent="watched",kind="tool_changed"\} 1/,
    );
  } finally {
    pins.close();
  }
});

Deno.test("anomaly monitor: an alert to a refused destination is not sent, and is recorded", async () => {
  await using f = await fixture();
  await using hook = receiver();
  const port = new URL(hook.url).port;
  // The name resolves to a private address the agent does not allow.
  const agent = await f.serve(
    config(
      f.api.url,
      `      warmup: 0\n      webhook: "http://hooks.internal.test:${port}/hook"\n`,
    ),
    { anomaly: { lookup: () => Promise.resolve(["10.0.0.5"]) } },
  );
  await agent.gate.callTool("lookup", { q: "a" }, ctx());
  await agent.anomalies!.settled();
  const records = await f.anomalies();
  const alert = records.find((r) => r.action === "alert")!;
  assert.equal(alert.result, "refused");
  assert.equal(alert.kind, "new_tool");
  assert.equal(typeof alert.reason, "string");
  assert.equal(hook.bodies.length, 0);
  assert.match(
    f.metrics.render(),
    /loom_anomaly_alerts_total\{agent="watched",result="refused"\} 1/,
  );
  assert.ok(f.logs.some((l) => l.includes("anomaly alert (new_tool) refused")));
});
