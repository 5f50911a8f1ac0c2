import assert from "node:assert/strict";
import { compileOutputSchema } from "./output_schema.ts";
import type { OutputSchemaSpec } from "./types.ts";
import { ITEM_LIST_SCHEMA } from "./_testing.ts";

const PAGE: OutputSchemaSpec = {
  type: "object",
  required: ["items"],
  properties: {
    items: {
      ...ITEM_LIST_SCHEMA,
      items: { ...ITEM_LIST_SCHEMA.items, required: ["id"] },
    } as OutputSchemaSpec,
    labels: { type: "object", additionalProperties: { type: "string" } },
  },
};

const check = compileOutputSchema(PAGE);

// --- negative -------------------------------------------------------------------

Deno.test("compileOutputSchema() names the first mismatching path and what it expected", () => {
  const value = { items: [{ id: 1 }, { id: 2 }, { id: "3" }, { id: "x" }] };
  assert.equal(check(value), "result.items[2].id: expected integer");
});

Deno.test("compileOutputSchema() refuses a missing required property, an undeclared one and a wrong enum", () => {
  assert.equal(check({}), 'result: missing required property "items"');
  assert.equal(check({ items: [{}] }), 'result.items[0]: missing required property "id"');
  assert.equal(
    check({ items: [{ id: 1, owner: "x" }] }),
    "result.items[0].owner: not allowed (additionalProperties is false)",
  );
  assert.equal(
    check({ items: [{ id: 1, state: "gone" }] }),
    'result.items[0].state: must be one of "open", "closed"',
  );
});

Deno.test("compileOutputSchema() holds other properties to an additionalProperties schema", () => {
  assert.equal(
    check({ items: [], labels: { "a b": "x", "c\nd": 3 } }),
    'result.labels["c\\nd"]: expected string',
  );
});

Deno.test("compileOutputSchema() refuses the wrong top-level kind, a float for an integer and a non-finite number", () => {
  assert.equal(check([]), "result: expected object");
  assert.equal(check(null), "result: expected object");
  assert.equal(check({ items: [{ id: 1.5 }] }), "result.items[0].id: expected integer");
  assert.equal(check({ items: [{ id: Infinity }] }), "result.items[0].id: expected integer");
  assert.equal(
    check({ items: [{ id: 1, note: 3 }] }),
    "result.items[0].note: expected string or null",
  );
});

Deno.test("compileOutputSchema() cuts a long property name in its path", () => {
  const strict = compileOutputSchema({ type: "object", additionalProperties: false });
  const problem = strict({ ["k".repeat(70) + " "]: 1 })!;
  assert.match(problem, /^result\["k{63}\u2026"\]: not allowed/);
});

Deno.test("compileOutputSchema() treats a property named like an Object method as data", () => {
  const strict = compileOutputSchema({ type: "object", additionalProperties: false });
  assert.equal(
    strict({ constructor: 1 }),
    "result.constructor: not allowed (additionalProperties is false)",
  );
  assert.equal(
    strict(JSON.parse('{"__proto__": 1}')),
    "result.__proto__: not allowed (additionalProperties is false)",
  );
});

// --- positive -------------------------------------------------------------------

Deno.test("compileOutputSchema() accepts conforming values; an integer is a number", () => {
  assert.equal(check({ items: [{ id: 1, state: "open", note: null }], extra: true }), undefined);
  const numbers = compileOutputSchema({ type: "object", properties: { n: { type: "number" } } });
  assert.equal(numbers({ n: 3 }), undefined);
  assert.equal(numbers({ n: 3.5 }), undefined);
  const any = compileOutputSchema({ type: "object", properties: { v: { description: "any" } } });
  assert.equal(any({ v: [1, { a: null }] }), undefined);
});

Deno.test("compileOutputSchema() compares object enum values as canonical JSON", () => {
  const pinned = compileOutputSchema({
    type: "object",
    properties: { p: { enum: [{ a: 1, b: 2 }] } },
  });
  assert.equal(pinned({ p: { b: 2, a: 1 } }), undefined);
  assert.equal(pinned({ p: { a: 1 } }), 'result.p: must be one of {"a":1,"b":2}');
});

Deno.test("compileOutputSchema() names the root as asked", () => {
  assert.equal(check([], "value"), "value: expected object");
});
