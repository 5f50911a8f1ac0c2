/**
 * End to end: a tool call's progress and log messages reach the MCP SDK
 * client that made the call, through `loom run` in its default sandbox
 * (the agent host tells the parent when the upstream's headers arrived),
 * over streamable HTTP (an SSE answer to the POST) and over stdio. No
 * message names the secret the bridge sends or the argument.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Client,
  StdioClientTransport,
  StreamableHTTPClientTransport,
} from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN, runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

const TOKEN = "tok_progress_5e4d3c2b1a_Qx";
const ARG = "widget-42";

function agentYaml(url: string): string {
  return `agent:
  name: progress-e2e
  exposes:
    - name: get_item
      description: Fetch an item
      parameters:
        id: { type: string, max_length: 40 }
  http_bridge:
    - tool_name: get_item
      url: "${url}/items/{{id}}"
      headers: { X-Api-Key: "{{secret:api-key}}" }
`;
}

/** A config, a home with the secret set and granted, and an upstream echoing the key. */
async function prepare(dir: string) {
  const home = join(dir, "home");
  const api = await startUpstream((req) =>
    Response.json({ id: new URL(req.url).pathname, key: req.headers.get("x-api-key") })
  );
  const config = join(dir, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  const set = await runLoom(["secrets", "set", "api-key"], { home, stdin: TOKEN });
  assert.equal(set.code, 0, set.stderr);
  const grant = await runLoom(["secrets", "grant", "progress-e2e", "api-key", "--config", config], {
    home,
  });
  assert.equal(grant.code, 0, grant.stderr);
  return { api, home, config };
}

/**
 * Call `get_item` with `onprogress` at log level debug; what arrived before the result.
 *
 * @param wire the progress notifications as the transport received them, when
 *   the caller taps it: the SDK client drops a progress notification it
 *   dispatches after the response it belongs to (its handler is removed with
 *   the response), which happens when both arrive in one read of a busy pipe
 */
async function callWithProgress(
  client: Client,
  wire?: { progress: number; total?: number; message?: string }[],
) {
  const notices: unknown[] = [];
  client.fallbackNotificationHandler = (n) => {
    notices.push(n);
    return Promise.resolve();
  };
  await client.setLoggingLevel("debug");
  const progress: { progress: number; total?: number; message?: string }[] = [];
  const result = await client.callTool({ name: "get_item", arguments: { id: ARG } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  assert.equal(result.isError, undefined);
  const text = (result.content as { text: string }[])[0].text;
  assert.match(text, /«redacted:api-key»/);
  // LOOM writes them before the response, but the SDK client dispatches
  // notifications a microtask later than responses: wait (bounded) for them.
  for (let i = 0; i < 200 && progress.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  if (wire !== undefined) progress.splice(0, progress.length, ...wire);
  const progressAtResult = progress.length;
  assert.ok(progressAtResult >= 3, `only ${progressAtResult} progress notifications`);
  assert.deepEqual(progress.map((p) => p.message), [
    "sent",
    "headers received: 200",
    "body received",
  ]);
  assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3]);
  const told = JSON.stringify([progress, notices]);
  for (const leak of [TOKEN, ARG, "/items"]) assert.ok(!told.includes(leak), `names ${leak}`);
  const levels = notices
    .filter((n) => (n as { method: string }).method === "notifications/message")
    .map((n) => (n as { params: { level: string } }).params.level);
  assert.deepEqual(levels, ["debug", "info"]);
}

Deno.test("loom run --transport http streams a call's progress and log messages to the SDK client", async () => {
  await using dir = await tempDir();
  const { api, home, config } = await prepare(dir.path);
  await using _api = api;
  await using server = await startLoomHttp(config, { home });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  try {
    await callWithProgress(client);
  } finally {
    await client.close();
  }
  assert.ok(!server.stderr().includes(TOKEN));
});

Deno.test("loom run over stdio sends a call's progress and log messages to the SDK client", async () => {
  await using dir = await tempDir();
  const { api, home, config } = await prepare(dir.path);
  await using _api = api;
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  // Tap the transport: every progress notification in the order LOOM wrote it.
  const wire: { progress: number; total?: number; message?: string }[] = [];
  const deliver = transport.onmessage!;
  transport.onmessage = (message) => {
    const m = message as { method?: string; params?: { progressToken?: unknown } };
    if (m.method === "notifications/progress" && m.params !== undefined) {
      const { progressToken: _token, ...rest } = m.params as Record<string, unknown>;
      wire.push(rest as { progress: number; total?: number; message?: string });
    }
    deliver(message);
  };
  try {
    await callWithProgress(client, wire);
  } finally {
    await client.close();
  }
});
