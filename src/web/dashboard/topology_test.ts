/**
 * The Topology page: the SVG and the table show every agent (coloured by
 * tier, with its tool count) and every upstream host, with 1 agent and with
 * 50; a gateway agent's upstream is its MCP server; a config that fails to
 * load is not drawn but counted; no header value is drawn.
 *
 * @module
 */

import assert from "node:assert/strict";
import { testDashboard } from "./_testing.ts";
import {
  BILLING_YAML,
  BROKEN_YAML,
  plantSecret,
  readerYaml,
  SECRET_VALUE,
  writeAgent,
} from "./_agents_testing.ts";

const GATEWAY_YAML = `agent:
  name: gateway
  mcp_upstream:
    url: https://mcp.example.com/mcp
`;

function svgOf(body: string): string {
  const svg = /<svg role="img" aria-labelledby="topo-title[^]*?<\/svg>/.exec(body)?.[0];
  assert.ok(svg !== undefined, "the page has the topology drawing");
  return svg;
}

function tableOf(body: string): string {
  const table = /<table>\s*<caption>Topology:[^]*?<\/table>/.exec(body)?.[0];
  assert.ok(table !== undefined, "the page has the topology table");
  return table;
}

Deno.test("topology: a broken config is not drawn, and no header value or secret is", async () => {
  await using d = await testDashboard();
  await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  await writeAgent(d.agentsDir, "broken.yaml", BROKEN_YAML);
  await plantSecret(d.home);
  const res = await d.get("/topology");
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.ok(!body.includes(SECRET_VALUE));
  assert.ok(!body.includes("Bearer"));
  assert.doesNotMatch(svgOf(body), /broken/);
  assert.match(body, /Not drawn: 1 config that fails to load/);
});

Deno.test("topology: one agent: client, mesh, agent box by tier with its tools, host", async () => {
  await using d = await testDashboard();
  await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  const body = await (await d.get("/topology")).text();
  const svg = svgOf(body);
  assert.match(svg, /<title id="topo-title">Topology of the mesh<\/title>/);
  assert.match(svg, /class="node client"/);
  assert.match(svg, /class="node mesh"/);
  assert.match(svg, /class="node agent tier-2"/);
  assert.match(svg, />billing<\/text>/);
  assert.match(svg, /tier 2 · 1 tool</);
  assert.match(svg, />billing\.example\.com:443<\/text>/);
  // client-mesh, mesh-agent, agent-host
  assert.equal(svg.match(/<line class="edge"/g)?.length, 3);
  const table = tableOf(body);
  assert.match(table, /<a href="\/agents\/billing">billing<\/a>/);
  assert.match(table, /billing\.example\.com:443/);
});

Deno.test("topology: fifty agents and a gateway: every agent and host in the SVG and the table", async () => {
  await using d = await testDashboard();
  for (let i = 0; i < 50; i++) {
    const name = `reader-${String(i).padStart(2, "0")}`;
    await writeAgent(d.agentsDir, `${name}.yaml`, readerYaml(name, 9000 + (i % 10)));
  }
  await writeAgent(d.agentsDir, "zz-gateway.yaml", GATEWAY_YAML);
  const body = await (await d.get("/topology")).text();
  const svg = svgOf(body);
  const table = tableOf(body);
  for (let i = 0; i < 50; i++) {
    const name = `reader-${String(i).padStart(2, "0")}`;
    assert.ok(svg.includes(`>${name}</text>`), `${name} drawn`);
    assert.ok(table.includes(`>${name}</a>`), `${name} in the table`);
  }
  for (let port = 9000; port < 9010; port++) {
    assert.ok(svg.includes(`>127.0.0.1:${port}</text>`), `host ${port} drawn`);
    assert.ok(table.includes(`127.0.0.1:${port}`), `host ${port} in the table`);
  }
  assert.ok(svg.includes(">mcp.example.com:443</text>"));
  assert.ok(table.includes("mcp.example.com:443"));
  // 51 agent boxes, 11 host boxes, each agent on its own row: the height grows with the rows.
  assert.equal(svg.match(/class="node agent /g)?.length, 51);
  assert.equal(svg.match(/class="node host"/g)?.length, 11);
  const height = Number(/viewBox="0 0 900 ([0-9.]+)"/.exec(svg)?.[1]);
  assert.ok(height >= 51 * 40, `tall enough for 51 rows: ${height}`);
  assert.match(body, /class="topology-frame"/);
});

Deno.test("topology: no agents: an empty drawing and a note, not an error", async () => {
  await using d = await testDashboard();
  const res = await d.get("/topology");
  assert.equal(res.status, 200);
  assert.match(await res.text(), /no agent config loads from the agents directory/);
});
