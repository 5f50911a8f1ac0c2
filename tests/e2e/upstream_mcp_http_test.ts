/**
 * LOOM's MCP upstream client (`src/upstream/mcp/`) against LOOM's own
 * streamable HTTP server (`src/web/`), in both protocol eras: what one LOOM
 * serves, another can put behind its gate.
 */

import assert from "node:assert/strict";
import { type CallToolResult, McpEngine } from "../../src/mcp/mod.ts";
import { McpUpstream } from "../../src/upstream/mod.ts";
import { serveMcpHttp } from "../../src/web/mod.ts";

const TOKEN = "upstream-test-token-0123456789";

function engine(): McpEngine {
  return new McpEngine({
    listTools: () => [{
      name: "region",
      description: "Echo a region",
      inputSchema: {
        type: "object",
        properties: { region: { type: "string", "x-mcp-header": "Region" } },
      },
    }],
    callTool(_name, args, ctx): Promise<CallToolResult> {
      ctx.progress?.(1, 2);
      return Promise.resolve({ content: [{ type: "text", text: JSON.stringify(args ?? {}) }] });
    },
  }, { name: "served", version: "9" });
}

for (const era of ["2025", "2026-07-28", "auto"] as const) {
  Deno.test(`McpUpstream http: LOOM's own server, era ${era}`, async () => {
    const server = await serveMcpHttp(engine(), { port: 0, token: TOKEN });
    const progress: number[] = [];
    const upstream = new McpUpstream({
      kind: "http",
      url: server.url,
      era,
      allowNetworks: ["127.0.0.0/8"],
      headers: () => Promise.resolve({ authorization: `Bearer ${TOKEN}` }),
    }, { name: "gateway" });
    try {
      const info = await upstream.start(AbortSignal.timeout(10_000));
      assert.equal(info.protocolVersion, era === "2025" ? "2025-11-25" : "2026-07-28");
      assert.equal(info.serverName, "served");
      const tools = await upstream.listTools(AbortSignal.timeout(10_000));
      assert.deepEqual(tools.map((t) => t.name), ["region"]);
      const result = await upstream.callTool("region", { region: "eu west" }, {
        signal: AbortSignal.timeout(10_000),
        onProgress: (p) => progress.push(p),
      });
      assert.deepEqual(result.content, [{ type: "text", text: '{"region":"eu west"}' }]);
      assert.equal(result.isError, false);
      assert.deepEqual(progress, [1]); // from the SSE answer
    } finally {
      await upstream.close();
      await server.shutdown();
    }
  });
}
