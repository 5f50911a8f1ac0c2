import assert from "node:assert/strict";
import type { ParamSpec, ParamType, ToolSpec } from "../../config/mod.ts";
import { toolInputSchema } from "./input_schema.ts";

function param(type: ParamType, extra: Partial<ParamSpec> = {}): ParamSpec {
  return { type, required: true, allow: [], ...extra };
}

const SAMPLE: ToolSpec = {
  name: "search_issues",
  description: "Search issues",
  access: "read",
  parameters: {
    query: param("string", { description: "Search text", maxLength: 200, allow: ["sql"] }),
    state: param("string", { required: false, default: "open", enum: ["open", "closed"] }),
    limit: param("integer", { required: false, default: 10, minimum: 1, maximum: 100 }),
    score: param("number", { required: false, minimum: 0.5 }),
    draft: param("boolean", { required: false }),
    repo: param("string", { pattern: "[a-z0-9-]+/[a-z0-9-]+", minLength: 3 }),
    labels: param("array", { required: false, items: param("string", { maxLength: 50 }) }),
    filters: param("object", {
      required: false,
      properties: {
        author: param("string"),
        since: param("string", { required: false }),
      },
    }),
    extra: param("object", { required: false }),
  },
};

Deno.test("toolInputSchema() publishes a closed object schema with the required list", () => {
  assert.deepEqual(toolInputSchema(SAMPLE), {
    type: "object",
    properties: {
      query: { type: "string", description: "Search text", maxLength: 200 },
      state: { type: "string", default: "open", enum: ["open", "closed"], maxLength: 10_000 },
      limit: { type: "integer", default: 10, minimum: 1, maximum: 100 },
      score: { type: "number", minimum: 0.5 },
      draft: { type: "boolean" },
      repo: {
        type: "string",
        minLength: 3,
        maxLength: 10_000,
        pattern: "^(?:[a-z0-9-]+/[a-z0-9-]+)$",
      },
      labels: { type: "array", maxItems: 1000, items: { type: "string", maxLength: 50 } },
      filters: {
        type: "object",
        properties: {
          author: { type: "string", maxLength: 10_000 },
          since: { type: "string", maxLength: 10_000 },
        },
        required: ["author"],
        additionalProperties: false,
      },
      extra: { type: "object" },
    },
    required: ["query", "repo"],
    additionalProperties: false,
  });
});

Deno.test("toolInputSchema() publishes additionalProperties false and an empty required list for no parameters", () => {
  const schema = toolInputSchema({ name: "ping", description: "", access: "read", parameters: {} });
  assert.deepEqual(schema, {
    type: "object",
    properties: {},
    required: [],
    additionalProperties: false,
  });
});

Deno.test("toolInputSchema() caches per tool object and freezes the result", () => {
  const first = toolInputSchema(SAMPLE);
  assert.equal(toolInputSchema(SAMPLE), first);
  assert.ok(Object.isFrozen(first));
  assert.ok(Object.isFrozen(first.properties));
  assert.ok(Object.isFrozen(first.properties.filters.properties));
  assert.throws(() => {
    (first.required as string[]).push("x");
  }, TypeError);
  const copy = { ...SAMPLE };
  assert.notEqual(toolInputSchema(copy), first);
  assert.deepEqual(toolInputSchema(copy), first);
});

Deno.test("toolInputSchema() caps array maxItems at 1,000 and maps array lengths to item counts", () => {
  const schema = toolInputSchema({
    name: "t",
    description: "",
    access: "read",
    parameters: {
      big: param("array", { maxLength: 5000 }),
      small: param("array", { minLength: 1, maxLength: 3 }),
    },
  });
  assert.deepEqual(schema.properties.big, { type: "array", maxItems: 1000 });
  assert.deepEqual(schema.properties.small, { type: "array", minItems: 1, maxItems: 3 });
});

Deno.test("toolInputSchema() copies defaults and enums so the config cannot be changed through it", () => {
  const spec = param("array", { required: false, default: ["a"] });
  const schema = toolInputSchema({
    name: "t",
    description: "",
    access: "read",
    parameters: { a: spec },
  });
  assert.notEqual(schema.properties.a.default, spec.default);
  assert.deepEqual(schema.properties.a.default, ["a"]);
});

Deno.test("toolInputSchema() throws RangeError on a cyclic parameter spec", () => {
  const cyclic: ParamSpec = param("object", { properties: {} });
  (cyclic.properties as Record<string, ParamSpec>).self = cyclic;
  assert.throws(
    () =>
      toolInputSchema({ name: "t", description: "", access: "read", parameters: { p: cyclic } }),
    RangeError,
  );
});

Deno.test("toolInputSchema() publishes nesting beyond 8 levels as declared", () => {
  let deep = param("string");
  for (let i = 1; i < 12; i++) deep = param("object", { properties: { x: deep } });
  const schema = toolInputSchema({
    name: "t",
    description: "",
    access: "read",
    parameters: { p: deep },
  });
  let node = schema.properties.p;
  for (let i = 1; i < 12; i++) node = node.properties!.x;
  assert.deepEqual(node, { type: "string", maxLength: 10_000 });
});
