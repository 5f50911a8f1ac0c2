import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { AuditLog, readAuditRecords } from "../../security/audit/mod.ts";
import { resolveHome } from "../../store/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { AgentGate } from "./gate.ts";
import { startUpstream, tempDir } from "../../../tests/_helpers.ts";

const ctx: ToolCallContext = {
  signal: new AbortController().signal,
  sessionId: null,
  client: null,
  log: () => {},
};

const SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: { $anchor: "addressDef", type: "object", properties: { zip: { type: "string" } } },
  },
  properties: {
    id: { type: "string", pattern: "^[a-z0-9-]{1,32}$", "x-mcp-header": "Id" },
    address: { $ref: "#addressDef" },
    tags: { type: "array", items: { type: "string" } },
  },
  required: ["id"],
  if: { required: ["tags"] },
  then: { properties: { tags: { minItems: 1 } } },
  else: true,
  additionalProperties: false,
};

/** A `lookup` tool declared by SCHEMA (written as JSON, which is YAML), bridged to `url`. */
function config(url: string): string {
  return `agent:
  name: input-schema-test
  exposes:
    - name: lookup
      description: Look up a record
      input_schema: ${JSON.stringify(SCHEMA)}
  http_bridge:
    - tool_name: lookup
      url: "${url}/records/{{id}}"
      query_params: { tags: tags }
  runtime:
    sandbox: none
`;
}

async function gateFor(url: string) {
  const tmp = await tempDir("loom-gate-input-");
  const home = resolveHome(new Map([["LOOM_HOME", tmp.path]]));
  const audit = await AuditLog.open(home.audit);
  const gate = new AgentGate(parseConfig(config(url), { path: "input.yaml" }), { audit });
  return {
    gate,
    records: () => readAuditRecords(home.audit, {}),
    [Symbol.asyncDispose]: async () => {
      await gate.close();
      await audit.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

function textOf(result: CallToolResult): string {
  return result.content.map((c) => c.text).join("");
}

// --- negative -------------------------------------------------------------------

Deno.test("AgentGate refuses a call that breaks input_schema with the path, and the upstream receives nothing", async () => {
  await using up = await startUpstream(() => Response.json({ ok: true }));
  await using f = await gateFor(up.url);
  const result = await f.gate.callTool("lookup", { id: "a1", address: { zip: 1 } }, ctx);
  assert.equal(result.isError, true);
  assert.equal(textOf(result), 'Invalid argument "address.zip": must be of type "string"');
  const conditional = await f.gate.callTool("lookup", { id: "a1", tags: [] }, ctx);
  assert.equal(conditional.isError, true);
  assert.match(textOf(conditional), /^Invalid argument "tags": array has too few items/);
  assert.equal(up.requests.length, 0);
  const outcomes = (await f.records()).filter((r) => r.event === "tool_call");
  assert.ok(outcomes.every((r) => r.status === "invalid"), JSON.stringify(outcomes));
  assert.equal(outcomes[0].field, "address.zip");
});

Deno.test("AgentGate screens strings of an input_schema tool for injection before they reach the upstream", async () => {
  await using up = await startUpstream(() => Response.json({ ok: true }));
  await using f = await gateFor(up.url);
  const result = await f.gate.callTool("lookup", { id: "a1", tags: ["ok", "' OR '1'='1"] }, ctx);
  assert.equal(result.isError, true);
  assert.match(textOf(result), /Possible sql injection refused/);
  assert.equal(up.requests.length, 0);
});

// --- positive -------------------------------------------------------------------

Deno.test("AgentGate lists input_schema verbatim and runs a valid call", async () => {
  await using up = await startUpstream((req) => Response.json({ path: new URL(req.url).pathname }));
  await using f = await gateFor(up.url);
  const [listed] = f.gate.listTools();
  assert.equal(JSON.stringify(listed.inputSchema), JSON.stringify(SCHEMA));
  const result = await f.gate.callTool("lookup", { id: "a1", tags: ["x"] }, ctx);
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(up.requests.length, 1);
  assert.equal(new URL(up.requests[0].url).pathname, "/records/a1");
});
