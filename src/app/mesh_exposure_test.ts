/**
 * What one client entry of a mesh sees, with real parts (configs loaded by
 * the real loader, real sandboxed agent hosts, a real upstream on
 * loopback): `--tools` patterns and profiles hide tools from the list and
 * from calls (a hidden tool is refused and recorded as unknown, and the
 * upstream sees nothing), and discovery mode lists two tools whose inner
 * calls meet the owning agent's gate exactly as direct calls do.
 */

import assert from "node:assert/strict";
import { readAuditRecords } from "../security/audit/mod.ts";
import { UnknownToolError } from "../mcp/mod.ts";
import { ToolFilter } from "./mesh_exposure.ts";
import { CALL_TOOL, SEARCH_TOOL } from "./mesh_discovery.ts";
import { agentYaml, ctx, fixture, textOf } from "./_mesh_testing.ts";

/** A tier 4 agent (every write held) with a write tool and a read tool with a bounded parameter. */
function shopYaml(url: string): string {
  return `agent:
  name: shop
  exposes:
    - name: create_order
      description: Create an order in the shop
      access: write
      parameters:
        title: { type: string, max_length: 20 }
    - name: find_orders
      description: Search the shop's orders by a word
      access: read
      parameters:
        q: { type: string, max_length: 20 }
  http_bridge:
    - tool_name: create_order
      method: POST
      url: "${url}/orders"
      body_template: { title: "{{title}}" }
    - tool_name: find_orders
      url: "${url}/orders"
      query_params: { q: q }
  runtime:
    trust_tier: 4
`;
}

Deno.test("ToolFilter matches the served name, the tool's own name and agent__tool", () => {
  const filter = new ToolFilter(["github__*", "*_alerts", "grafana-ops__search"]);
  assert.ok(filter.matches("github", "list_issues", "list_issues"));
  assert.ok(filter.matches("github", "list_issues", "github__list_issues"));
  assert.ok(filter.matches("prom", "get_alerts", "get_alerts"));
  // The agent's "-" may be written as is or as "_".
  assert.ok(filter.matches("grafana-ops", "search", "search"));
  assert.ok(new ToolFilter(["grafana_ops__search"]).matches("grafana-ops", "search", "search"));
  assert.ok(!filter.matches("gitlab", "list_issues", "list_issues"));
  assert.ok(!filter.matches("prom", "get_alert", "get_alert"));
  // "?" is one character; a pattern is anchored at both ends.
  assert.ok(new ToolFilter(["get_?"]).matches("a", "get_x", "get_x"));
  assert.ok(!new ToolFilter(["get_?"]).matches("a", "get_xy", "get_xy"));
  assert.ok(!new ToolFilter(["issue"]).matches("a", "list_issues", "list_issues"));
  assert.deepEqual(
    filter.unmatched([{ agent: "github", tool: "x", served: "x" }]),
    ["*_alerts", "grafana-ops__search"],
  );
  assert.throws(() => new ToolFilter([]), RangeError);
});

Deno.test("mesh with --tools: a hidden tool is neither listed nor callable; its refusal is recorded and the upstream sees nothing", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["lookup", "delete_all"]));
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["status"]));
  const mesh = await f.open({ tools: ["alpha__lookup", "status", "nothing_*"] });
  assert.deepEqual(mesh.listTools().map((t) => t.name), ["lookup", "status"]);
  assert.ok(f.warnings.some((w) => /"nothing_\*" matches no tool/.test(w)), f.warnings.join("\n"));
  await assert.rejects(() => mesh.callTool("delete_all", {}, ctx()), UnknownToolError);
  assert.equal(f.api.requests.length, 0);
  const ok = await mesh.callTool("lookup", {}, ctx());
  assert.equal(ok.isError, undefined, textOf(ok));
  assert.deepEqual(f.api.requests.map((r) => new URL(r.url).pathname), ["/alpha/lookup"]);
  const refused = (await readAuditRecords(f.home.audit, {})).filter((r) =>
    r.event === "tool_call" && r.agent === "alpha" && r.status === "invalid"
  );
  assert.equal(refused.length, 1);
  assert.equal(refused[0].error, "unknown tool");
});

Deno.test("mesh discovery: two tools are listed; a search ranks by words and returns schemas of exposed tools only", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["lookup", "delete_all"]));
  await f.write("s.yaml", shopYaml(f.api.url));
  const mesh = await f.open({ discovery: true, namespace: true, tools: ["shop__*", "*lookup"] });
  assert.deepEqual(mesh.listTools().map((t) => t.name), [SEARCH_TOOL, CALL_TOOL]);
  const found = await mesh.callTool(SEARCH_TOOL, { query: "orders in the shop" }, ctx());
  const tools = (found.structuredContent as { tools: { name: string; inputSchema: unknown }[] })
    .tools;
  assert.deepEqual(tools.map((t) => t.name).sort(), ["shop__create_order", "shop__find_orders"]);
  assert.equal(
    (tools.find((t) => t.name === "shop__find_orders")!.inputSchema as { type: string }).type,
    "object",
  );
  const none = await mesh.callTool(SEARCH_TOOL, { query: "delete everything" }, ctx());
  assert.deepEqual((none.structuredContent as { tools: unknown[] }).tools, []);
  assert.equal(f.api.requests.length, 0);
});

Deno.test("mesh discovery: a found tool's call meets its own gate (validation, holds); a hidden or discovery name is refused", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["lookup", "delete_all"]));
  await f.write("s.yaml", shopYaml(f.api.url));
  const mesh = await f.open({ discovery: true, tools: ["*_order*", "lookup"] });
  // Invalid arguments: refused naming the field, as a direct call would be.
  const invalid = await mesh.callTool(CALL_TOOL, {
    name: "find_orders",
    arguments: { q: "x".repeat(50) },
  }, ctx());
  assert.equal(invalid.isError, true);
  assert.match(textOf(invalid), /\bq\b/);
  // Tier 4 holds every write: held by the shop's gate, never sent.
  const held = await mesh.callTool(CALL_TOOL, {
    name: "create_order",
    arguments: { title: "chair" },
  }, ctx());
  assert.equal(held.isError, true);
  assert.match(textOf(held), /held|approval/i);
  // A hidden tool, a discovery tool and a junk name: tool errors, nothing runs.
  for (const name of ["delete_all", CALL_TOOL, SEARCH_TOOL, "../x"]) {
    const refused = await mesh.callTool(CALL_TOOL, { name, arguments: {} }, ctx());
    assert.equal(refused.isError, true, name);
    assert.match(textOf(refused), /no tool .* is served here/);
  }
  assert.equal(f.api.requests.length, 0);
  const read = await mesh.callTool(
    CALL_TOOL,
    { name: "find_orders", arguments: { q: "x" } },
    ctx(),
  );
  assert.equal(read.isError, undefined, textOf(read));
  assert.deepEqual(f.api.requests.map((r) => new URL(r.url).pathname), ["/orders"]);
  const records = await readAuditRecords(f.home.audit, {});
  const outcomes = records.filter((r) => r.event === "tool_call" && r.phase === "outcome");
  assert.deepEqual(
    outcomes.map((r) => `${r.agent}:${r.tool ?? "-"}:${r.status}`),
    [
      "shop:find_orders:invalid",
      "shop:create_order:held",
      "alpha:-:invalid",
      "shop:find_orders:success",
    ],
  );
});

Deno.test("mesh discovery: malformed arguments of the discovery tools name the field", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["lookup"]));
  const mesh = await f.open({ discovery: true });
  const cases: [string, unknown, RegExp][] = [
    [SEARCH_TOOL, {}, /"query"/],
    [SEARCH_TOOL, { query: "x", limit: 0 }, /"limit"/],
    [SEARCH_TOOL, { query: "x", extra: 1 }, /unknown argument "extra"/],
    [CALL_TOOL, { arguments: {} }, /"name"/],
    [CALL_TOOL, { name: "lookup", arguments: [1] }, /"arguments"/],
    [CALL_TOOL, null, /must be an object/],
  ];
  for (const [tool, args, message] of cases) {
    const result = await mesh.callTool(tool, args, ctx());
    assert.equal(result.isError, true, `${tool} ${JSON.stringify(args)}`);
    assert.match(textOf(result), message);
  }
  assert.equal(f.api.requests.length, 0);
});
