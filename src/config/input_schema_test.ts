import assert from "node:assert/strict";
import type { ConfigIssue } from "../errors.ts";
import { parseConfig } from "./load.ts";
import { onlyIssue, refusedIssues } from "./_testing.ts";
import { compileInputSchema } from "./input_check.ts";
import { isInlineSearch } from "./input_schema.ts";
import type { AgentConfig } from "./types.ts";

/** One tool `find` whose arguments are `schema` (YAML lines, indented 6), bridged to `url`. */
function build(schema: string, url = "https://api.example.com/find", extra = ""): string {
  return `agent:
  name: demo
  exposes:
    - name: find
      description: Find a contact
${schema}${extra}  http_bridge:
    - tool_name: find
      url: "${url}"
`;
}

const CONTACT = `      input_schema:
        $schema: https://json-schema.org/draft/2020-12/schema
        type: object
        $defs:
          address:
            $anchor: addressDef
            type: object
            properties:
              street: { type: string }
              zip: { type: string, pattern: "^[0-9]{5}$" }
        properties:
          name: { type: string }
          address: { $ref: "#/$defs/address" }
          contactMethod: { type: string, enum: [phone, email] }
          phone: { type: string }
          email: { type: string }
        allOf:
          - anyOf:
              - required: [phone]
              - required: [email]
        if:
          properties:
            contactMethod: { const: phone }
          required: [contactMethod]
        then: { required: [phone] }
        else: { required: [email] }
        additionalProperties: false
`;

function load(text: string): AgentConfig {
  return parseConfig(text, { path: "c.yaml" });
}

function issuesOf(text: string): ConfigIssue[] {
  return refusedIssues(() => load(text));
}

function only(text: string): ConfigIssue {
  return onlyIssue(issuesOf(text));
}

/** A schema with one property `p` whose schema is `property` (YAML flow). */
function withProperty(property: string, more = ""): string {
  return build(`      input_schema:
        type: object
        properties:
          p: ${property}
${more}`);
}

// --- negative -------------------------------------------------------------------

Deno.test("parseConfig() refuses a remote $ref in input_schema, positioned, and fetches nothing", () => {
  const issue = only(withProperty('{ $ref: "https://example.com/schemas/p.json" }'));
  assert.equal(issue.path, 'agent.exposes[0].input_schema.properties.p["$ref"]');
  assert.equal(issue.line, 9);
  assert.equal(issue.column, 22);
  assert.match(issue.message, /is not local: only references within this schema/);
});

Deno.test("parseConfig() refuses $id in input_schema, and a relative or urn $ref", () => {
  const id = only(withProperty("{ type: string }", "        $id: https://example.com/s\n"));
  assert.equal(id.path, 'agent.exposes[0].input_schema["$id"]');
  assert.match(id.message, /^\$id is not supported/);
  assert.match(only(withProperty('{ $ref: "other.json#/x" }')).message, /is not local/);
  assert.match(only(withProperty('{ $ref: "urn:x:y" }')).message, /is not local/);
});

Deno.test("parseConfig() refuses a $schema dialect other than 2020-12", () => {
  for (const dialect of ["http://json-schema.org/draft-07/schema#", "https://example.com/x"]) {
    const issue = only(
      withProperty("{ type: string }", `        $schema: "${dialect}"\n`),
    );
    assert.equal(issue.path, 'agent.exposes[0].input_schema["$schema"]');
    assert.equal(issue.line, 10);
    assert.match(
      issue.message,
      /^Unsupported JSON Schema dialect .*only "https:\/\/json-schema\.org\/draft\/2020-12\/schema"/,
    );
  }
});

Deno.test("parseConfig() refuses a tool that declares both parameters and input_schema", () => {
  const issue = only(build(`      parameters:
        q: { type: string }
      input_schema:
        type: object
        properties:
          q: { type: string }
`));
  assert.equal(issue.path, "agent.exposes[0].input_schema");
  assert.equal(issue.line, 8);
  assert.equal(issue.column, 7);
  assert.equal(
    issue.message,
    'Tool "find" declares both parameters and input_schema: declare its arguments with one of them',
  );
});

Deno.test("parseConfig() refuses an input_schema whose top level is not type object", () => {
  const issue = only(build("      input_schema:\n        type: array\n"));
  assert.equal(issue.path, "agent.exposes[0].input_schema.type");
  assert.match(issue.message, /must have type "object" at the top level/);
  assert.match(
    only(build("      input_schema:\n        properties: {}\n")).message,
    /type "object"/,
  );
});

Deno.test("parseConfig() refuses a $ref that resolves nowhere, and a $ref loop that never descends", () => {
  const dangling = only(withProperty('{ $ref: "#/$defs/missing" }'));
  assert.equal(dangling.path, 'agent.exposes[0].input_schema.properties.p["$ref"]');
  assert.match(dangling.message, /resolves to nothing in this schema/);
  const loop = issuesOf(build(`      input_schema:
        type: object
        $defs:
          a: { $ref: "#/$defs/b" }
          b: { allOf: [{ $ref: "#/$defs/a" }] }
        properties:
          p: { $ref: "#/$defs/a" }
`));
  assert.ok(
    loop.some((i) => /loops back without going into a property/.test(i.message)),
    JSON.stringify(loop),
  );
  // Recursion through a property is fine: each level consumes a level of the value.
  load(build(`      input_schema:
        type: object
        $defs:
          node:
            type: object
            properties:
              child: { $ref: "#/$defs/node" }
        properties:
          tree: { $ref: "#/$defs/node" }
`));
});

Deno.test("parseConfig() refuses unknown keywords, unsupported ones, and wrong values, with a hint", () => {
  const typo = only(withProperty("{ type: string, maxLenght: 5 }"));
  assert.equal(typo.path, "agent.exposes[0].input_schema.properties.p.maxLenght");
  assert.match(typo.message, /Unknown JSON Schema keyword "maxLenght": did you mean "maxLength"\?/);
  assert.match(only(withProperty('{ $dynamicRef: "#x" }')).message, /not supported/);
  assert.match(only(withProperty("{ definitions: {} }")).message, /use "\$defs"/);
  assert.match(
    only(withProperty("{ type: string, minLength: -1 }")).message,
    /non-negative integer/,
  );
  assert.match(only(withProperty("{ type: strings }")).message, /must be a type/);
  assert.match(only(withProperty("{ type: object, required: id }")).message, /list of distinct/);
  // Extensions are kept.
  load(withProperty("{ type: string, x-display: wide }"));
});

Deno.test("parseConfig() refuses an input_schema pattern that would backtrack on the gate's thread", () => {
  const issue = only(withProperty('{ type: string, pattern: "(a+)+$" }'));
  assert.equal(issue.path, "agent.exposes[0].input_schema.properties.p.pattern");
  assert.match(issue.message, /may backtrack heavily/);
  assert.match(
    only(withProperty('{ type: string, pattern: "[a-z" }')).message,
    /not a valid regular expression/,
  );
  // The validator's check of the non-standard format "url" backtracks exponentially.
  assert.match(only(withProperty("{ type: string, format: url }")).message, /use "uri"/);
  load(withProperty("{ type: string, format: uri }"));
  assert.equal(isInlineSearch("[a-z]+", 10_000), false);
  assert.equal(isInlineSearch("^[a-z]+$", 10_000), true);
  assert.equal(isInlineSearch("[0-9]{5}", 10_000), true);
});

Deno.test("parseConfig() refuses a duplicate $anchor and an input_schema nested too deep", () => {
  const dup = issuesOf(build(`      input_schema:
        type: object
        $defs:
          a: { $anchor: same }
          b: { $anchor: same }
`));
  assert.ok(dup.some((i) => i.message === 'Duplicate $anchor "same"'));
  let nested = "{ type: string }";
  for (let i = 0; i < 40; i++) nested = `{ type: array, items: ${nested} }`;
  assert.ok(issuesOf(withProperty(nested)).some((i) => /nests deeper than 32/.test(i.message)));
});

Deno.test("parseConfig() refuses x-mcp-header on an array, object, number or nested property", () => {
  const array = only(withProperty("{ type: array, items: { type: string }, x-mcp-header: Items }"));
  assert.equal(array.path, "agent.exposes[0].input_schema.properties.p.x-mcp-header");
  assert.match(
    array.message,
    /applies only to a property of type string, integer or boolean, not type "array"/,
  );
  assert.match(
    only(withProperty("{ type: object, x-mcp-header: Data }")).message,
    /not type "object"/,
  );
  assert.match(
    only(withProperty("{ type: number, x-mcp-header: Score }")).message,
    /not type "number"/,
  );
  const nested = only(
    withProperty("{ type: object, properties: { q: { type: string, x-mcp-header: Q } } }"),
  );
  assert.match(nested.message, /applies only to a top-level property/);
  const inItems = only(withProperty("{ type: array, items: { type: string, x-mcp-header: Q } }"));
  assert.match(inItems.message, /applies only to a top-level property/);
  const inAllOf = only(build(`      input_schema:
        type: object
        allOf: [{ properties: { q: { type: string, x-mcp-header: Q } } }]
`));
  assert.match(inAllOf.message, /applies only to a top-level property/);
});

Deno.test("parseConfig() refuses malformed and duplicate MCP header names, in both forms", () => {
  for (const bad of ['""', '"My Region"', '"Region:1"', '"Région"', '"Tab\\tName"']) {
    const issue = only(withProperty(`{ type: string, x-mcp-header: ${bad} }`));
    assert.match(
      issue.message,
      /x-mcp-header of property "p" must (not be empty|be an RFC 9110 token)/,
      bad,
    );
  }
  const duplicate = only(build(`      input_schema:
        type: object
        properties:
          a: { type: string, x-mcp-header: MyField }
          b: { type: string, x-mcp-header: myfield }
`));
  assert.equal(duplicate.path, "agent.exposes[0].input_schema.properties.b.x-mcp-header");
  assert.match(
    duplicate.message,
    /^Duplicate MCP header name "myfield": "MyField" already uses it/,
  );
  const params = only(build(`      parameters:
        a: { type: string, mcp_header: Region }
        b: { type: integer, mcp_header: REGION }
`));
  assert.equal(params.path, "agent.exposes[0].parameters.b.mcp_header");
  assert.equal(params.line, 8);
  assert.match(params.message, /^Duplicate MCP header name/);
  const array = only(build(`      parameters:
        tags: { type: array, mcp_header: Tags }
`));
  assert.equal(array.path, "agent.exposes[0].parameters.tags.mcp_header");
  assert.match(array.message, /applies only to a property of type string, integer or boolean/);
  const nested = only(build(`      parameters:
        f:
          type: object
          properties:
            q: { type: string, mcp_header: Q }
`));
  assert.match(nested.message, /applies only to a top-level parameter/);
});

Deno.test("parseConfig() holds bridge templates of an input_schema tool to its top-level properties", () => {
  const unknown = only(build(CONTACT, "https://api.example.com/find/{{nmae}}"));
  assert.match(
    unknown.message,
    /names no parameter of tool "find": top-level properties of its input_schema are .*did you mean "name"\?/,
  );
  const optional = only(build(CONTACT, "https://api.example.com/find/{{name}}"));
  assert.match(optional.message, /does not list in its top-level "required"/);
});

Deno.test("compileInputSchema() names the first error by its instance path", () => {
  const schema = load(build(CONTACT)).tools[0].inputSchema!;
  const check = compileInputSchema(schema);
  assert.deepEqual(check({ name: "a", email: "x", address: { zip: 12345 } }), {
    field: "address.zip",
    message: 'must be of type "string"',
  });
  assert.deepEqual(check({ name: "a", email: "x", address: { zip: "1234" } }), {
    field: "address.zip",
    message: "string does not match pattern",
  });
  assert.deepEqual(check({ name: "a", email: "x", extra: 1 }), {
    field: "extra",
    message: "is not allowed",
  });
  assert.deepEqual(check({ contactMethod: "phone", email: "x" }), {
    field: "phone",
    message: "is required",
  });
  assert.equal(
    check({ name: "a" })?.message,
    "instance does not match any subschemas (#/allOf/0/anyOf)",
  );
  assert.equal(check({ "odd key": 1, email: "x" })?.field, "[#0]");
});

// --- positive -------------------------------------------------------------------

Deno.test("parseConfig() keeps input_schema exactly as written, keywords and key order included", () => {
  const tool = load(build(CONTACT)).tools[0];
  assert.deepEqual(tool.parameters, {});
  const json = JSON.stringify(tool.inputSchema);
  const expected = JSON.stringify({
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    $defs: {
      address: {
        $anchor: "addressDef",
        type: "object",
        properties: { street: { type: "string" }, zip: { type: "string", pattern: "^[0-9]{5}$" } },
      },
    },
    properties: {
      name: { type: "string" },
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
  });
  assert.equal(json, expected);
  // A valid call passes; the config's own object was not touched by the compiler.
  assert.equal(compileInputSchema(tool.inputSchema!)({ name: "a", email: "x" }), undefined);
  assert.equal(JSON.stringify(tool.inputSchema), expected);
});

Deno.test("parseConfig() resolves mcp_header on a parameter and keeps x-mcp-header in input_schema", () => {
  const params = load(build(`      parameters:
        region: { type: string, mcp_header: Region }
        priority: { type: integer, mcp_header: Priority }
`)).tools[0];
  assert.equal(params.parameters.region.mcpHeader, "Region");
  const schema = load(withProperty("{ type: boolean, x-mcp-header: Verbose }")).tools[0];
  assert.deepEqual(schema.inputSchema, {
    type: "object",
    properties: { p: { type: "boolean", "x-mcp-header": "Verbose" } },
  });
});
