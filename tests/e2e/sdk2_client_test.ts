/**
 * LOOM driven by the 2.4 client SDK (`@modelcontextprotocol/client`), which
 * speaks MCP 2026-07-28 when asked to (`versionNegotiation`) and the session
 * revision otherwise: both eras, over stdio and over HTTP, against a real
 * `loom run` and a real upstream.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { LOOM_FLAGS, MAIN, runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

const MODERN = "2026-07-28";

function agentYaml(url: string): string {
  return `agent:
  name: sdk2
  exposes:
    - name: get_item
      description: Fetch one item by id
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,20}" }
  http_bridge:
    - tool_name: get_item
      url: "${url}/items/{{id}}"
`;
}

type Mode = "legacy" | "auto" | { pin: string };

/** What one client saw: the era it settled on, the tools, one call's result. */
async function exercise(
  client: Client,
  transport: StreamableHTTPClientTransport | StdioClientTransport,
) {
  await client.connect(transport);
  try {
    const version = (client as unknown as { getNegotiatedProtocolVersion(): string })
      .getNegotiatedProtocolVersion();
    const { tools } = await client.listTools();
    const item = await client.callTool({ name: "get_item", arguments: { id: "abc-1" } });
    const refused = await client.callTool({ name: "get_item", arguments: { id: "../admin" } });
    return { version, tools: tools.map((t) => t.name), item, refused };
  } finally {
    await client.close();
  }
}

function itemText(result: Record<string, unknown>): string {
  return (result.content as { text: string }[]).map((c) => c.text).join("");
}

/** One client over HTTP: it settles on `expected` and uses the tools through the gate. */
async function overHttp(mode: Mode, expected: string): Promise<void> {
  await using dir = await tempDir();
  await using api = await startUpstream(itemsApi);
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  const transport = new StreamableHTTPClientTransport(new URL(server.url));
  const seen = await exercise(clientFor(mode), transport);
  assertServed(seen, expected);
  // A stateless client opens no session; a legacy one opens exactly one.
  assert.equal(transport.sessionId === undefined, expected === MODERN);
}

/** One client over stdio (`auto` probes a sibling process first). */
async function overStdio(mode: Mode, expected: string): Promise<void> {
  await using dir = await tempDir();
  await using api = await startUpstream(itemsApi);
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  const home = join(dir.path, "home");
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  const seen = await exercise(clientFor(mode), transport);
  assertServed(seen, expected);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
}

function itemsApi(req: Request): Response {
  return Response.json({ id: new URL(req.url).pathname.split("/").pop(), name: "widget" });
}

function clientFor(mode: Mode): Client {
  return new Client(
    { name: "sdk2-e2e", version: "1.0.0" },
    {
      versionNegotiation: { mode },
    } as ConstructorParameters<typeof Client>[1],
  );
}

function assertServed(seen: Awaited<ReturnType<typeof exercise>>, expected: string): void {
  assert.equal(seen.version, expected);
  assert.deepEqual(seen.tools, ["get_item"]);
  assert.deepEqual(JSON.parse(itemText(seen.item)), { id: "abc-1", name: "widget" });
  assert.equal(seen.refused.isError, true, "the gate still refuses a bad argument");
}

Deno.test("SDK 2.4 client (legacy) uses loom run over HTTP in the 2025-11-25 era", async () => {
  await overHttp("legacy", "2025-11-25");
});

Deno.test("SDK 2.4 client (auto) uses loom run over HTTP in the 2026-07-28 era", async () => {
  await overHttp("auto", MODERN);
});

Deno.test("SDK 2.4 client (pin 2026-07-28) uses loom run over HTTP in the 2026-07-28 era", async () => {
  await overHttp({ pin: MODERN }, MODERN);
});

Deno.test("SDK 2.4 client (legacy) uses loom run over stdio in the 2025-11-25 era", async () => {
  await overStdio("legacy", "2025-11-25");
});

Deno.test("SDK 2.4 client (auto) uses loom run over stdio in the 2026-07-28 era", async () => {
  await overStdio("auto", MODERN);
});

Deno.test("SDK 2.4 client (pin 2026-07-28) uses loom run over stdio in the 2026-07-28 era", async () => {
  await overStdio({ pin: MODERN }, MODERN);
});
