/**
 * A composite tool in a mesh: its steps are tools of other agents, each run
 * through the gate of the agent that owns it (the tier of that agent, its
 * audit records carrying the composite's call as `parent`), and a step the
 * owner refuses is reported as failed while the others answer.
 */

import assert from "node:assert/strict";
import { readAuditRecords } from "../security/audit/mod.ts";
import { agentYaml, ctx, fixture, textOf } from "./_mesh_testing.ts";

const BRIEFING = `agent:
  name: briefing
  exposes:
    - name: brief
      description: Both other agents' answers in one call
      access: read
      steps:
        - { id: first, tool: alpha__ping, timeout: 5s }
        - { id: second, tool: beta__write_it, timeout: 5s }
  runtime: { trust_tier: 3 }
`;

Deno.test("mesh: a composite's steps run through their owners' gates, recorded with the composite as parent", async () => {
  await using f = await fixture();
  await f.write("alpha.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await f.write("beta.yaml", agentYaml("beta", f.api.url, ["write_it"]));
  await f.write("briefing.yaml", BRIEFING);
  const mesh = await f.open({ namespace: true });
  const result = await mesh.callTool("briefing__brief", {}, ctx());
  const text = textOf(result);
  assert.equal(result.isError, undefined, text);
  assert.match(text, /- first \(alpha__ping\): ok/);
  assert.match(text, /\/alpha\/ping/);

  const records = await readAuditRecords(f.home.audit, {});
  const composite = records.find((r) =>
    r.event === "tool_call" && r.agent === "briefing" && r.phase === "intent"
  );
  assert.ok(composite, "the composite's own intent is recorded");
  const inner = records.filter((r) =>
    r.event === "tool_call" && r.agent === "alpha" && r.tool === "ping"
  );
  assert.ok(inner.length >= 2, "alpha's gate recorded the step");
  for (const r of inner) assert.equal(r.parent, composite.call);
});

Deno.test("mesh: a step its owner's gate refuses is reported as failed and recorded with its parent; the others still answer", async () => {
  await using f = await fixture();
  await f.write("alpha.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  // beta's gate refuses the argument the composite gives (longer than it allows).
  await f.write(
    "beta.yaml",
    `agent:
  name: beta
  exposes:
    - name: write_it
      description: Takes a name
      access: read
      parameters: { name: { type: string, max_length: 8 } }
  http_bridge:
    - { tool_name: write_it, url: "${f.api.url}/beta/{{name}}" }
`,
  );
  await f.write(
    "briefing.yaml",
    BRIEFING.replace(
      "tool: beta__write_it, timeout: 5s }",
      'tool: beta__write_it, timeout: 5s, arguments: { name: "far-too-long-for-beta" } }',
    ),
  );
  const mesh = await f.open({ namespace: true });
  const result = await mesh.callTool("briefing__brief", {}, ctx());
  const text = textOf(result);
  assert.equal(result.isError, undefined, "one step answered: partial, not failed");
  assert.match(text, /- first \(alpha__ping\): ok/);
  assert.match(text, /- second \(beta__write_it\): (?!ok)/);
  const records = await readAuditRecords(f.home.audit, {});
  const composite = records.find((r) =>
    r.event === "tool_call" && r.agent === "briefing" && r.phase === "intent"
  );
  const refused = records.find((r) => r.agent === "beta" && r.status === "invalid");
  assert.ok(refused, "beta's gate recorded its refusal");
  assert.equal(refused.parent, composite?.call, "the refusal names the composite call");
  assert.ok(
    !f.api.requests.some((r) => new URL(r.url).pathname.startsWith("/beta/")),
    "nothing reached beta's upstream",
  );
});
