/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, the
 * same number and string serialisation as `JSON.stringify` (RFC 8785 for the
 * values LOOM writes: finite numbers, strings, booleans, null, arrays, objects).
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./canonical_json.ts";
 * canonicalJson({ b: 1, a: [true, null] }); // '{"a":[true,null],"b":1}'
 * ```
 *
 * @module
 */

/**
 * Serialise a JSON value canonically.
 *
 * @param value a JSON-compatible value (no `undefined` inside arrays, no cycles)
 * @returns the canonical text
 * @throws {TypeError} on a non-finite number, a bigint, a function or a cycle
 */
export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

function write(value: unknown, depth: number): string {
  if (depth > 256) throw new TypeError("Cannot serialise value: nesting deeper than 256");
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("Cannot serialise a non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        return "[" + value.map((v) => (v === undefined ? "null" : write(v, depth + 1))).join(",") +
          "]";
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        if (i > 0) out += ",";
        out += JSON.stringify(keys[i]) + ":" + write(obj[keys[i]], depth + 1);
      }
      return out + "}";
    }
    default:
      throw new TypeError(`Cannot serialise a value of type "${typeof value}"`);
  }
}
