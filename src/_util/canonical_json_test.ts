import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "./canonical_json.ts";

/** An independent reference: sort keys recursively, then serialise. */
function reference(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : sort(x)));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) Object.defineProperty(out, k, { value: sort(x), enumerable: true });
      }
      return out;
    }
    return v;
  };
  // JSON.stringify keeps integer-like keys first whatever the order: compare via pairs.
  const text = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(text).join(",")}]`;
    if (v !== null && typeof v === "object") {
      return `{${
        Object.keys(v).sort().map((k) =>
          `${JSON.stringify(k)}:${text((v as Record<string, unknown>)[k])}`
        ).join(",")
      }}`;
    }
    return JSON.stringify(v);
  };
  return text(sort(value));
}

Deno.test("canonicalJson() matches a sorted-key reference for any JSON value, ordered or not", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      assert.equal(canonicalJson(value), reference(value));
    }),
    { numRuns: 500 },
  );
});

Deno.test("canonicalJson() sorts integer-like keys as strings and ignores toJSON", () => {
  assert.equal(canonicalJson({ 10: 1, 9: 2, a: 3 }), '{"10":1,"9":2,"a":3}');
  assert.equal(canonicalJson({ a: 1, b: { c: [1, "x", null] } }), '{"a":1,"b":{"c":[1,"x",null]}}');
  assert.equal(canonicalJson({ b: 1, a: undefined }), '{"b":1}');
  assert.equal(canonicalJson([undefined]), "[null]");
  const withToJson = { a: 1, toJSON: () => "other" };
  assert.throws(() => canonicalJson(withToJson), TypeError); // a function is not JSON
  assert.equal(canonicalJson(Object.assign(Object.create(null), { a: 1 })), '{"a":1}');
});

Deno.test("canonicalJson() refuses non-finite numbers, bigints and deep nesting", () => {
  assert.throws(() => canonicalJson({ a: Number.NaN }), TypeError);
  assert.throws(() => canonicalJson(1n), TypeError);
  let deep: unknown = 1;
  for (let i = 0; i < 300; i++) deep = [deep];
  assert.throws(() => canonicalJson(deep), TypeError);
});
