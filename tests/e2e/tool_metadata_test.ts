/**
 * End-to-end: the tool metadata `tools/list` shows (`title`, the derived
 * annotations, `outputSchema`) and the `structuredContent` a call returns,
 * through `loom run --transport http` in its default sandbox, spoken to with
 * the MCP SDK client against a real upstream on 127.0.0.1. The SDK client
 * checks `structuredContent` against the listed `outputSchema` itself.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "../../src/mcp/client.ts";
import { startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

const SCHEMA = `      output_schema:
        type: object
        required: [items]
        properties:
          items:
            type: array
            items:
              type: object
              required: [id]
              properties:
                id: { type: integer }
                name: { type: string }
`;

function agentYaml(url: string): string {
  return `agent:
  name: metadata-e2e
  exposes:
    - name: list_items
      title: List items
      description: List the items
${SCHEMA}    - name: list_broken
      description: List items from an upstream that breaks its schema
${SCHEMA}    - name: touch_item
      description: Mark an item as seen
      access: write
  http_bridge:
    - tool_name: list_items
      url: "${url}/items"
      response_path: data
    - tool_name: list_broken
      url: "${url}/broken"
    - tool_name: touch_item
      method: PUT
      url: "${url}/touch"
  runtime:
    trust_tier: 2
`;
}

function textOf(result: unknown): string {
  const content = (result as { content: { text: string }[] }).content;
  return content.map((c) => c.text).join("");
}

Deno.test("loom run lists title, annotations and outputSchema, and answers with structuredContent", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/items") return Response.json({ data: { items: [{ id: 1, name: "bolt" }] } });
    if (path === "/broken") return Response.json({ items: [{ id: 1 }, { id: "two" }] });
    return Response.json({ ok: true });
  });
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  try {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    const list = byName.get("list_items")!;
    assert.equal(list.title, "List items");
    assert.deepEqual(list.annotations, {
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: true,
    });
    assert.equal(list.outputSchema?.type, "object");
    assert.deepEqual(list.outputSchema?.required, ["items"]);
    const touch = byName.get("touch_item")!;
    assert.equal(touch.title, undefined);
    assert.equal(touch.outputSchema, undefined);
    assert.deepEqual(touch.annotations, {
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
      openWorldHint: true,
    });

    const broken = await client.callTool({ name: "list_broken", arguments: {} });
    assert.equal(broken.isError, true);
    assert.equal(broken.structuredContent, undefined);
    assert.equal(
      textOf(broken),
      "Upstream result does not match the tool's output_schema: result.items[1].id: expected integer",
    );

    const res = await client.callTool({ name: "list_items", arguments: {} });
    assert.equal(res.isError ?? false, false, textOf(res));
    assert.deepEqual(res.structuredContent, { items: [{ id: 1, name: "bolt" }] });
    assert.deepEqual(JSON.parse(textOf(res)), res.structuredContent);
  } finally {
    await client.close();
  }
});
