/**
 * The `head` notice of the agent host protocol: the sandboxed child tells the
 * parent when the upstream's response headers arrived, only for a call that
 * asked, and the parent forwards it to that call's `onResponseHead` once,
 * dropping notices for calls not in flight.
 */

import assert from "node:assert/strict";
import { startUpstream } from "../../../upstream/_testing.ts";
import { agentConfig } from "../../../security/sandbox/_testing.ts";
import { AgentHost, type SandboxEvent } from "./mod.ts";

const FIXTURES = new URL("../../../../tests/fixtures/sandbox/", import.meta.url);

function callOptions(onResponseHead?: (status: number) => void) {
  return {
    signal: AbortSignal.timeout(5000),
    maxResponseBytes: 1024 * 1024,
    allowNetworks: [] as string[],
    secrets: new Map<string, string>(),
    onResponseHead,
  };
}

Deno.test("AgentHost calls onResponseHead once with the final status, after a redirect, before the result", async () => {
  await using upstream = startUpstream((req) =>
    new URL(req.url).pathname === "/api"
      ? new Response(null, { status: 302, headers: { location: "/api/v2" } })
      : Response.json({ ok: true }, { status: 201 })
  );
  const config = agentConfig({ bridges: [`${upstream.origin}/api`] });
  await using host = new AgentHost(config);
  const heads: number[] = [];
  let headsAtResult = -1;
  const result = await host.run(config.bridges[0], {}, callOptions((s) => heads.push(s)))
    .then((r) => ((headsAtResult = heads.length), r));
  assert.equal(result.status, 201);
  assert.deepEqual(heads, [201]);
  assert.equal(headsAtResult, 1, "the notice came before the result");
  // Without a callback nothing is asked and nothing is reported.
  const quiet = await host.run(config.bridges[0], {}, callOptions());
  assert.equal(quiet.status, 201);
  assert.deepEqual(heads, [201]);
});

Deno.test("AgentHost forwards one head notice per call and drops a hostile child's others", async () => {
  const events: SandboxEvent[] = [];
  const config = agentConfig({ bridges: ["http://127.0.0.1:9/api"] });
  await using host = new AgentHost(config, {
    entry: new URL("head_host.ts", FIXTURES),
    onEvent: (e) => events.push(e),
  });
  const heads: number[] = [];
  const asked = await host.run(config.bridges[0], {}, callOptions((s) => heads.push(s)));
  assert.deepEqual(JSON.parse(asked.text), { askedForHead: true });
  assert.deepEqual(heads, [200], "only the first notice of the call, none for another id");
  const unasked = await host.run(config.bridges[0], {}, callOptions());
  assert.deepEqual(JSON.parse(unasked.text), { askedForHead: false });
  assert.deepEqual(heads, [200]);
  assert.deepEqual(events.map((e) => e.action), ["spawn", "ready"], "the pipe was not broken");
});
