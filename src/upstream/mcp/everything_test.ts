/**
 * The stdio path against a real npm MCP server, the reference
 * `server-everything` (pinned in `deno.dev.json`), run by Deno with the
 * narrowest flags it starts with: no reads, no network, three variables.
 */

import assert from "node:assert/strict";
import { McpUpstream } from "./mod.ts";

/** What server-everything reads at start (its gzip tool's limits). */
export const EVERYTHING_FLAGS = [
  "--no-prompt",
  "--no-config",
  "--allow-env=GZIP_MAX_FETCH_SIZE,GZIP_MAX_FETCH_TIME_MILLIS,GZIP_ALLOWED_DOMAINS",
];

Deno.test("McpUpstream stdio: the npm server-everything lists its tools and answers echo and progress", async () => {
  const upstream = new McpUpstream({
    kind: "stdio",
    command: ["npm:@modelcontextprotocol/server-everything@2026.8.31", "stdio"],
    denoFlags: EVERYTHING_FLAGS,
    env: {},
  }, { name: "everything" });
  try {
    const info = await upstream.start(AbortSignal.timeout(60_000));
    assert.equal(info.protocolVersion, "2025-11-25");
    assert.equal(info.serverName, "mcp-servers/everything");
    const tools = await upstream.listTools(AbortSignal.timeout(30_000));
    assert.ok(tools.some((t) => t.name === "echo"));
    const echo = await upstream.callTool("echo", { message: "hi" }, {
      signal: AbortSignal.timeout(10_000),
    });
    assert.deepEqual(echo, { content: [{ type: "text", text: "Echo: hi" }], isError: false });
    const steps: number[] = [];
    const long = await upstream.callTool("trigger-long-running-operation", {
      duration: 0.2,
      steps: 2,
    }, { signal: AbortSignal.timeout(10_000), onProgress: (p) => steps.push(p) });
    assert.equal(long.isError, false);
    assert.deepEqual(steps, [1, 2]);
  } finally {
    await upstream.close();
  }
});
