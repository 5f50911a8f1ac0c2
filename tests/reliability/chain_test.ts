/**
 * Reliability: concurrent calls keep one chain (see "Reliability suite" in
 * docs/performance.md). Sixteen SDK clients, each with its own session, call at
 * once over streamable HTTP; after a clean stop the audit log is one
 * contiguous, verifiable chain holding exactly the expected records: the start,
 * an intent and an outcome per call, the sandbox host's lifecycle records, and
 * the stop.
 *
 * Raise with LOOM_RELIABILITY_CLIENTS (default 16) and
 * LOOM_RELIABILITY_CALLS (calls per client, default 50; the long
 * form is 500).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "../../src/mcp/client.ts";
import { runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";
import { envCount, indexCalls, readAudit, resultText } from "./_helpers.ts";

const CLIENTS = envCount("LOOM_RELIABILITY_CLIENTS", 16);
const CALLS = envCount("LOOM_RELIABILITY_CALLS", 50);

Deno.test(`loom run --transport http keeps one contiguous audit chain for ${CLIENTS} clients x ${CALLS} calls`, async () => {
  await using dir = await tempDir();
  await using api = await startUpstream((req) => {
    const q = new URL(req.url).searchParams.get("q");
    return Response.json({ q });
  });
  const config = join(dir.path, "agent.yaml");
  const home = join(dir.path, "home");
  await Deno.writeTextFile(
    config,
    `agent:
  name: chain-test
  exposes:
    - name: search
      description: Search
      parameters:
        q: { type: string, max_length: 64 }
  http_bridge:
    - tool_name: search
      url: "${api.url}/search"
      query_params: { q: q }
  runtime:
    rate_limit: { per_minute: 1000000 }
`,
  );
  const server = await startLoomHttp(config, { home });
  try {
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
      const client = new Client({ name: `chain-${c}`, version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
      try {
        for (let n = 0; n < CALLS; n++) {
          const q = `c${c}-n${n}`;
          const res = await client.callTool({ name: "search", arguments: { q } });
          assert.equal(res.isError, undefined, resultText(res));
          assert.deepEqual(JSON.parse(resultText(res)), { q });
        }
      } finally {
        await client.close();
      }
    }));
  } finally {
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, server.stderr());
  }

  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const records = await readAudit(home);
  // Besides the calls: the config's signature check (unsigned here), the
  // agent's start and stop, and the sandbox host's lifecycle (spawn, ready,
  // stop) when the agent runs in one; nothing else.
  const sandbox = records.filter((r) => r.event === "sandbox_lifecycle");
  assert.ok(sandbox.every((r) => ["spawn", "ready", "stop"].includes(r.action)), "no crash");
  const checks = records.filter((r) => r.event === "config_signature");
  assert.deepEqual(checks.map((r) => [r.action, r.verdict]), [["verify", "unsigned"]]);
  const expected = 1 + 1 + CLIENTS * CALLS * 2 + 1 + sandbox.length;
  assert.equal(records.length, expected);
  assert.match(verify.stdout, new RegExp(`intact: ${expected} records`));
  records.forEach((r, i) => {
    assert.equal(r.seq, i + 1);
    if (i > 0) assert.equal(r.prev, records[i - 1].hash);
  });
  const lifecycle = records.filter((r) => r.event === "agent_lifecycle");
  assert.deepEqual(lifecycle.map((r) => r.action), ["start", "stop"]);
  assert.equal(records.filter((r) => r.event === "tool_call").length, CLIENTS * CALLS * 2);
  const calls = indexCalls(records);
  assert.equal(calls.size, CLIENTS * CALLS);
  const seen = new Set<string>();
  for (const { intent, outcome } of calls.values()) {
    assert.ok(intent && outcome, "every call has an intent and an outcome");
    assert.ok(intent.seq < outcome.seq, "the intent precedes its outcome");
    assert.equal(outcome.status, "success");
    seen.add(intent.args.q);
  }
  assert.equal(seen.size, CLIENTS * CALLS, "every argument value is recorded once");
});
