import assert from "node:assert/strict";
import type { ChildMessage } from "../protocol.ts";
import { AgentServer, selfTest } from "./agent_server.ts";

Deno.test("selfTest() passes: LOOM's check refuses IPv6 ULA, link-local and loopback", async () => {
  assert.equal(await selfTest(), null);
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
