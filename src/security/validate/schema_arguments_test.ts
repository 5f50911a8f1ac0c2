import assert from "node:assert/strict";
import { parseConfig, type ToolSpec } from "../../config/mod.ts";
import { compileToolInputSchema, validateSchemaArguments } from "./schema_arguments.ts";
import { listedInputSchema } from "./input_schema.ts";

/** The one tool of a config whose `find` tool has these argument lines (indented 6). */
function toolOf(args: string): ToolSpec {
  return parseConfig(
    `agent:
  name: demo
  exposes:
    - name: find
      description: Find a contact
${args}  http_bridge:
    - tool_name: find
      url: https://api.example.com/find
`,
    { path: "c.yaml" },
  ).tools[0];
}

const TOOL = toolOf(`      input_schema:
        $schema: https://json-schema.org/draft/2020-12/schema
        type: object
        $defs:
          address:
            type: object
            properties:
              street: { type: string }
              zip: { type: string, pattern: "^[0-9]{5}$" }
              notes: { type: array, items: { type: string } }
        properties:
          name: { type: string, default: anonymous }
          count: { type: integer, x-mcp-header: Count }
          address: { $ref: "#/$defs/address" }
        required: [address]
        additionalProperties: false
`);
const COMPILED = compileToolInputSchema(TOOL)!;

// --- negative -------------------------------------------------------------------

Deno.test("validateSchemaArguments() refuses arguments that break the schema, naming the path", () => {
  const out = validateSchemaArguments(COMPILED, { address: { zip: 75001 } }, {
    injection: "block",
  });
  assert.equal(out.ok, false);
  assert.ok(!out.ok);
  assert.equal(out.error.field, "address.zip");
  assert.equal(out.error.message, 'Invalid argument "address.zip": must be of type "string"');
  const missing = validateSchemaArguments(COMPILED, {}, { injection: "block" });
  assert.ok(!missing.ok);
  assert.equal(missing.error.message, 'Invalid argument "address": is required');
  const extra = validateSchemaArguments(COMPILED, { address: {}, other: 1 }, {
    injection: "block",
  });
  assert.ok(!extra.ok);
  assert.equal(extra.error.message, 'Invalid argument "other": is not allowed');
});

Deno.test("validateSchemaArguments() still screens every nested string for injection", () => {
  const args = { address: { notes: ["fine", "x; rm -rf /"] } };
  const blocked = validateSchemaArguments(COMPILED, args, { injection: "block" });
  assert.ok(!blocked.ok);
  assert.equal(blocked.error.field, "address.notes[1]");
  assert.equal(blocked.findings[0].category, "shell");
  const audited = validateSchemaArguments(COMPILED, args, { injection: "audit" });
  assert.ok(audited.ok);
  assert.equal(audited.findings[0].field, "address.notes[1]");
  // A key is screened too, even one the schema would refuse.
  const key = validateSchemaArguments(COMPILED, { address: { "../../etc/passwd": 1 } }, {
    injection: "block",
  });
  assert.ok(!key.ok);
  assert.match(key.error.message, /Possible path injection refused/);
});

Deno.test("validateSchemaArguments() bounds values before the validator sees them", () => {
  const long = validateSchemaArguments(COMPILED, { address: { street: "a".repeat(10_001) } }, {
    injection: "off",
  });
  assert.ok(!long.ok);
  assert.equal(
    long.error.message,
    'Invalid argument "address.street": must be at most 10000 characters',
  );
  let deep: unknown = "x";
  for (let i = 0; i < 9; i++) deep = { d: deep };
  const nested = validateSchemaArguments(COMPILED, { address: {}, deep }, { injection: "off" });
  assert.ok(!nested.ok);
  assert.match(nested.error.message, /nests deeper than 8 levels/);
  const notObject = validateSchemaArguments(COMPILED, [1], { injection: "block" });
  assert.ok(!notObject.ok);
  assert.equal(notObject.error.message, "Arguments must be a JSON object");
});

Deno.test("validateSchemaArguments() coerces nothing, and refuses an unsafe integer mirrored into a header", () => {
  const text = validateSchemaArguments(COMPILED, { address: {}, count: "3" }, {
    injection: "block",
  });
  assert.ok(!text.ok);
  assert.equal(text.error.message, 'Invalid argument "count": must be of type "integer"');
  const huge = validateSchemaArguments(COMPILED, { address: {}, count: 2 ** 60 }, {
    injection: "block",
  });
  assert.ok(!huge.ok);
  assert.match(huge.error.message, /^Invalid argument "count": must be a safe integer/);
});

// --- positive -------------------------------------------------------------------

Deno.test("validateSchemaArguments() passes a valid call as sent, without the schema's defaults", () => {
  const args = { address: { zip: "75001", notes: ["ring twice"] }, count: 2 };
  const out = validateSchemaArguments(COMPILED, args, { injection: "block" });
  assert.ok(out.ok);
  assert.deepEqual(out.value, args);
  assert.equal("name" in out.value, false);
  assert.deepEqual(out.findings, []);
});

Deno.test("listedInputSchema() lists input_schema verbatim and mcp_header as x-mcp-header", () => {
  assert.equal(listedInputSchema(TOOL), TOOL.inputSchema);
  const params = toolOf(`      parameters:
        region: { type: string, mcp_header: Region }
        query: { type: string }
`);
  assert.deepEqual(listedInputSchema(params), {
    type: "object",
    properties: {
      region: { type: "string", maxLength: 10_000, "x-mcp-header": "Region" },
      query: { type: "string", maxLength: 10_000 },
    },
    required: ["region", "query"],
    additionalProperties: false,
  });
  assert.equal(compileToolInputSchema(params), null);
});
