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
  // Most values LOOM writes already have their keys in order: then the
  // native serialiser gives the same text, faster.
  return ordered(value, 0) ? JSON.stringify(value) : write(value, 0);
}

/**
 * Whether `JSON.stringify(value)` is already canonical: plain objects (no
 * `toJSON`, no prototype but Object's or null) whose own keys come in sorted
 * order, finite numbers, no values JSON cannot hold, at most 256 levels.
 */
function ordered(value: unknown, depth: number): boolean {
  if (depth > 256) return false;
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined || !ordered(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      for (let i = 0; i < keys.length; i++) {
        if (i > 0 && !(keys[i - 1] < keys[i])) return false;
        const v = obj[keys[i]];
        if (v !== undefined && !ordered(v, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
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
