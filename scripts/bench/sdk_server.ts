/**
 * The SDK baseline of `deno task bench` (see `docs/performance.md`): a
 * hand-written MCP server on the official SDK,
 * written the way the SDK's own `jsonResponseStreamableHttp` example is:
 * `createMcpExpressApp()`, one `McpServer` and one `StreamableHTTPServerTransport`
 * per session (stateful, `sessionIdGenerator: randomUUID`, `enableJsonResponse:
 * true`), a session map filled by `onsessioninitialized`, and one tool doing
 * the same upstream fetch as LOOM's bench config. The example's per-request
 * `console.log` is left out, so the baseline is not slowed by logging.
 *
 * Run: `deno run -A scripts/bench/sdk_server.ts --upstream=URL [--port=0]`;
 * prints `listening on http://127.0.0.1:PORT/mcp` on stderr.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import * as z from "zod";
import {
  createMcpExpressApp,
  isInitializeRequest,
  McpServer,
  StreamableHTTPServerTransport,
} from "./_sdk_server.ts";

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

const upstream = option("upstream");
if (!upstream) {
  console.error("Usage: sdk_server.ts --upstream=URL [--port=N]");
  Deno.exit(64);
}
const port = Number(option("port") ?? 0);

function getServer(): McpServer {
  const server = new McpServer({ name: "sdk-baseline", version: "1.0.0" }, {
    capabilities: { logging: {} },
  });
  server.registerTool("get_item", {
    description: "Fetch an item by id",
    inputSchema: { id: z.string().describe("Item id") },
  }, async ({ id }) => {
    const res = await fetch(`${upstream}/items/${encodeURIComponent(id)}`);
    return { content: [{ type: "text", text: await res.text() }] };
  });
  return server;
}

const app = createMcpExpressApp();
const sessions = new Map<string, StreamableHTTPServerTransport>();

// deno-lint-ignore no-explicit-any
app.post("/mcp", async (req: any, res: any) => {
  try {
    const sessionId = req.headers["mcp-session-id"] as string | undefined;
    let transport = sessionId ? sessions.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId) {
        res.status(404).json({
          jsonrpc: "2.0",
          error: { code: -32001, message: "Session not found" },
          id: null,
        });
        return;
      }
      if (!isInitializeRequest(req.body)) {
        res.status(400).json({
          jsonrpc: "2.0",
          error: { code: -32000, message: "Bad Request: No valid session ID provided" },
          id: null,
        });
        return;
      }
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (sid) => {
          sessions.set(sid, created);
        },
      });
      created.onclose = () => {
        if (created.sessionId) sessions.delete(created.sessionId);
      };
      await getServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, req.body);
  } catch (error) {
    console.error("sdk_server: error handling MCP request:", error);
    if (!res.headersSent) {
      res.status(500).json({
        jsonrpc: "2.0",
        error: { code: -32603, message: "Internal server error" },
        id: null,
      });
    }
  }
});

// deno-lint-ignore no-explicit-any
app.delete("/mcp", async (req: any, res: any) => {
  const transport = sessions.get(req.headers["mcp-session-id"]);
  if (!transport) return void res.status(404).end();
  await transport.handleRequest(req, res);
});

const listener = app.listen(port, "127.0.0.1", () => {
  const addr = listener.address() as AddressInfo;
  console.error(`listening on http://127.0.0.1:${addr.port}/mcp`);
});

// As the SDK example does on SIGINT: exit (normally, so `--cpu-prof` writes its profile).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => Deno.exit(0));
}
