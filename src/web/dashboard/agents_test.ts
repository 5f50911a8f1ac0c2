/**
 * The Agents pages: an unknown agent is a 404 page, no secret value is ever
 * shown (header names and secret names only), a config that fails to load
 * is listed with its `file:line:column` errors, and a loaded agent's page
 * shows its tools, parameters, bridges, sandbox flags, signature, pins and
 * registry status.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openStore } from "../../store/mod.ts";
import { testDashboard } from "./_testing.ts";
import {
  BILLING_YAML,
  BROKEN_YAML,
  plantSecret,
  readerYaml,
  registerAgent,
  SECRET_VALUE,
  writeAgent,
} from "./_agents_testing.ts";

Deno.test("agents page: an unknown agent name is a 404 page, not a crash", async () => {
  await using d = await testDashboard();
  await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  const res = await d.get("/agents/nobody");
  assert.equal(res.status, 404);
  const body = await res.text();
  assert.match(body, /<h1>Agent not found<\/h1>/);
  assert.match(body, /No agent named <code>nobody<\/code>/);
  const odd = await d.get(`/agents/${encodeURIComponent("<script>x</script>")}`);
  assert.equal(odd.status, 404);
  assert.doesNotMatch(await odd.text(), /<script>x/);
});

Deno.test("agents page: a planted vault secret's value appears on no page", async () => {
  await using d = await testDashboard();
  const path = await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  await plantSecret(d.home);
  await registerAgent(d.home, path);
  for (const page of ["/", "/topology", "/agents", "/agents/billing"]) {
    const res = await d.get(page);
    assert.equal(res.status, 200, page);
    const body = await res.text();
    assert.ok(!body.includes(SECRET_VALUE), `${page} shows the secret value`);
    assert.ok(!body.includes("Bearer"), `${page} shows a header value`);
  }
  const detail = await (await d.get("/agents/billing")).text();
  assert.match(detail, /<code>Authorization<\/code>\s*\(secret tok\)/);
});

Deno.test("agents page: a config that fails to load is listed with file:line:column errors", async () => {
  await using d = await testDashboard();
  await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  const broken = await writeAgent(d.agentsDir, "broken.yaml", BROKEN_YAML);
  const res = await d.get("/agents");
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /Configs that fail to load \(1\)/);
  assert.ok(body.includes(`${broken}:`), "the error names the file");
  assert.match(body, /broken\.yaml:[0-9]+:[0-9]+: /);
  const detail = await d.get("/agents/broken");
  assert.equal(detail.status, 200);
  assert.match(await detail.text(), /broken\.yaml:[0-9]+:[0-9]+: /);
});

Deno.test("agents page: the list shows name, tier, tools, status, signature, provenance, file", async () => {
  await using d = await testDashboard();
  const billing = await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  await writeAgent(d.agentsDir, "metrics.yml", readerYaml("metrics"));
  await registerAgent(d.home, billing, "failed");
  const body = await (await d.get("/agents")).text();
  assert.match(body, /Agents of the agents directory \(2\)/);
  assert.match(body, /<a href="\/agents\/billing">billing<\/a>/);
  assert.match(body, /<a href="\/agents\/metrics">metrics<\/a>/);
  assert.match(body, /class="tier tier-2"/);
  assert.match(body, /class="tier tier-1"/);
  assert.match(body, /<span class="status-bad">failed<\/span>/);
  assert.match(body, /not registered/);
  assert.match(body, /unsigned/);
  assert.match(body, /<td>human<\/td>/);
  assert.ok(body.includes(billing));
  assert.match(body, /every config loads/);
});

Deno.test("agents page: an agent's page shows tools, parameters, bridges, sandbox, pins and status", async () => {
  await using d = await testDashboard();
  const path = await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  await registerAgent(d.home, path, "running");
  const res = await d.get("/agents/billing");
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /<h1>Agent billing<\/h1>/);
  assert.match(body, /Read invoices of the billing service/);
  assert.match(body, /<code>invoice<\/code> <span class="muted">read<\/span>/);
  assert.match(body, /<code>id<\/code><\/td>\s*<td>string<\/td>\s*<td>required<\/td>/);
  assert.match(body, /pattern \[0-9\]\+; length ≤ 20/);
  assert.match(body, /<code>limit<\/code><\/td>\s*<td>integer<\/td>\s*<td>optional<\/td>/);
  assert.match(body, /≥ 1; ≤ 50/);
  assert.match(body, /<td>GET<\/td>/);
  assert.match(body, /https:\/\/billing\.example\.com\/invoices\/\{\{id\}\}/);
  assert.match(body, /--allow-net=/);
  assert.match(body, /unsigned/);
  assert.match(body, /Pinned tool definitions \(loom pin list\): none pinned yet\./);
  {
    await using store = await openStore(d.home);
    store.toolPins.check("billing", [{
      name: "invoice",
      definition: { name: "invoice", inputSchema: { type: "object" }, upstream: null },
    }], 1000);
  }
  const pinned = await (await d.get("/agents/billing")).text();
  assert.match(pinned, /<caption>Pinned tool definitions \(loom pin list\)<\/caption>/);
  assert.match(pinned, /<td>invoice<\/td><td><span class="mono">sha256:/);
  assert.ok(body.includes(path));
  assert.match(body, /billing\.example\.com:443/);
  assert.match(body, /stopped \(not running\)|running/);
});
