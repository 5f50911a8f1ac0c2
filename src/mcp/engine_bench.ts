/**
 * What the engine itself costs per `tools/call`, in both eras, with a tool
 * host that answers at once: the session path (a request in an initialized
 * session) against the stateless one (`_meta` read and checked, a session
 * made for the request, `resultType` and `_meta` added to the result).
 *
 * Run: `deno bench --config deno.dev.json -A src/mcp/engine_bench.ts`
 */

import { McpEngine, McpSession, META, MODERN_PROTOCOL_VERSION, type ToolHost } from "./engine.ts";
import { classifyMessage } from "./jsonrpc.ts";

const host: ToolHost = {
  listTools: () => [{ name: "echo", description: "Echo", inputSchema: { type: "object" } }],
  callTool: () => Promise.resolve({ content: [{ type: "text", text: "ok" }] }),
};
const engine = new McpEngine(host, { name: "bench", version: "1" });

const session = new McpSession("s", () => {});
await engine.handle(
  session,
  classifyMessage({
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "bench", version: "1" },
    },
  }),
);

const sessionCall = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "echo", arguments: { q: "x" } },
});
const statelessCall = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: {
    name: "echo",
    arguments: { q: "x" },
    _meta: {
      [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
      [META.clientInfo]: { name: "bench", version: "1" },
      [META.clientCapabilities]: {},
    },
  },
});

Deno.bench("tools/call in a 2025-11-25 session", { group: "era", baseline: true }, async () => {
  await engine.handle(session, classifyMessage(JSON.parse(sessionCall)));
});

Deno.bench("tools/call, 2026-07-28 stateless", { group: "era" }, async () => {
  const own = new McpSession(null, () => {});
  own.stateless = true;
  await engine.handle(own, classifyMessage(JSON.parse(statelessCall)));
});
