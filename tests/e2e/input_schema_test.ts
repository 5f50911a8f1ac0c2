/**
 * End-to-end: a tool declared with a verbatim JSON Schema (`input_schema`)
 * and one with `mcp_header` parameters, through `loom run --transport http` in
 * its default sandbox, spoken to with raw MCP 2026-07-28 requests (so the
 * listed JSON is read as the server wrote it) against a real upstream on
 * 127.0.0.1: `tools/list` shows the schema verbatim, the schema and the
 * mirrored `Mcp-Param-*` headers are enforced, and a valid call runs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

const VERSION = "2026-07-28";

const SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string", "x-mcp-header": "Name" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
};

function agentYaml(url: string): string {
  return `agent:
  name: input-schema-e2e
  exposes:
    - name: json_schema_2020_12_tool
      description: Save a contact
      input_schema: ${JSON.stringify(SCHEMA)}
    - name: by_region
      description: Items of a region
      parameters:
        region: { type: string, mcp_header: Region }
        limit: { type: integer, required: false, mcp_header: Limit }
  http_bridge:
    - tool_name: json_schema_2020_12_tool
      url: "${url}/contacts"
      query_params: { name: name }
    - tool_name: by_region
      url: "${url}/regions/{{region}}"
`;
}

/** One stateless 2026-07-28 request; `headers` add to (or override) the mirrored ones. */
async function rpc(
  url: string,
  method: string,
  params: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": VERSION,
      "mcp-method": method,
      ...(typeof params.name === "string" ? { "mcp-name": params.name } : {}),
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method,
      params: {
        ...params,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": VERSION,
          "io.modelcontextprotocol/clientInfo": { name: "e2e", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    }),
  });
  const text = await response.text();
  const data = text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)?.[1] ?? "{}";
  return { status: response.status, body: JSON.parse(data) };
}

function textOf(body: Record<string, unknown>): string {
  const result = body.result as { content: { text: string }[] };
  return result.content.map((c) => c.text).join("");
}

Deno.test("loom run lists input_schema verbatim, enforces it and the mirrored headers, and runs a valid call", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream((req) =>
    Response.json({ path: new URL(req.url).pathname })
  );
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });

  const listed = await rpc(server.url, "tools/list", {});
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  const tools = (listed.body.result as { tools: { name: string; inputSchema: unknown }[] }).tools;
  const byName = new Map(tools.map((t) => [t.name, t]));
  assert.equal(
    JSON.stringify(byName.get("json_schema_2020_12_tool")!.inputSchema),
    JSON.stringify(SCHEMA),
  );
  const region = byName.get("by_region")!.inputSchema as {
    properties: Record<string, Record<string, unknown>>;
  };
  assert.equal(region.properties.region["x-mcp-header"], "Region");
  assert.equal(region.properties.limit["x-mcp-header"], "Limit");

  // Negative: arguments that break the schema; a header that disagrees with the body.
  const invalid = await rpc(server.url, "tools/call", {
    name: "json_schema_2020_12_tool",
    arguments: { name: "Ada", contactMethod: "phone", email: "ada@example.com" },
  }, { "mcp-param-name": "Ada" });
  assert.equal((invalid.body.result as { isError: boolean }).isError, true);
  assert.equal(textOf(invalid.body), 'Invalid argument "phone": is required');
  const mismatch = await rpc(server.url, "tools/call", {
    name: "by_region",
    arguments: { region: "eu-west" },
  }, { "mcp-param-region": "us-east" });
  assert.equal(mismatch.status, 400);
  assert.equal((mismatch.body.error as { code: number }).code, -32020);
  assert.equal(api.requests.length, 0);

  // Positive.
  const valid = await rpc(server.url, "tools/call", {
    name: "json_schema_2020_12_tool",
    arguments: { name: "Ada", email: "ada@example.com", address: { city: "London" } },
  }, { "mcp-param-name": "Ada" });
  assert.equal((valid.body.result as { isError?: boolean }).isError, undefined, textOf(valid.body));
  const mirrored = await rpc(server.url, "tools/call", {
    name: "by_region",
    arguments: { region: "eu-west", limit: 5 },
  }, { "mcp-param-region": "eu-west", "mcp-param-limit": "5" });
  assert.equal(textOf(mirrored.body), '{"path":"/regions/eu-west"}');
  assert.equal(api.requests.length, 2);
  assert.equal(new URL(api.requests[0].url).search, "?name=Ada");
});
