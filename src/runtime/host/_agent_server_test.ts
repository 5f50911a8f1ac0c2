import assert from "node:assert/strict";
import type { ChildMessage } from "./_protocol.ts";
import { AgentServer, sandboxDenial, selfTest } from "./_agent_server.ts";

Deno.test("selfTest() passes: LOOM's check refuses IPv6 ULA, link-local and loopback", async () => {
  assert.equal(await selfTest(), null);
});

Deno.test("sandboxDenial() names host:port of Deno's refusals, before and after resolution", () => {
  const before = new Deno.errors.NotCapable(
    'Requires net access to "127.0.0.1:8080", run again with the --allow-net flag',
  );
  assert.equal(sandboxDenial(before), "127.0.0.1:8080");
  const after = new TypeError("fetch failed", {
    cause: new Error(
      'error sending request: client error (Connect): Requires net access to "127.0.0.1:9"',
    ),
  });
  assert.equal(sandboxDenial(after), "127.0.0.1:9");
  // A top-level TypeError quoting the phrase (e.g. from a response) is not a denial.
  assert.equal(sandboxDenial(new TypeError('Requires net access to "x:1"')), null);
  assert.equal(sandboxDenial(new Deno.errors.NotCapable("Requires read access")), null);
  assert.equal(sandboxDenial(new Error("connection refused")), null);
});

Deno.test("AgentServer answers an unknown bridge index with a clean error, never a stack", async () => {
  const sent: ChildMessage[] = [];
  const server = new AgentServer((message) => sent.push(message));
  server.handle({ id: 1, op: "init", bridges: [], allowNetworks: [] });
  server.handle({
    id: 2,
    op: "run",
    bridge: 7,
    args: {},
    secrets: {},
    deadlineMs: 1000,
    maxResponseBytes: 1024,
  });
  for (let i = 0; i < 50 && sent.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  server.close();
  assert.deepEqual(sent.sort((a, b) => ("id" in a && "id" in b ? a.id - b.id : 0)), [
    { id: 1, ok: true, result: null },
    { id: 2, ok: false, code: "INTERNAL", message: "Unknown bridge" },
  ]);
});
