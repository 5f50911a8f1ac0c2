/**
 * An OpenAPI/JSON Schema node as a LOOM tool parameter (the `parameters`
 * shape of `src/config/schema.ts`): type, enum, default, bounds, pattern,
 * items and properties. `$ref`s are followed; a reference back into a schema
 * being converted (a cycle), or nesting past {@linkcode MAX_PARAM_DEPTH},
 * becomes a free-form object. Whatever the loader still refuses is removed
 * afterwards by the importer, which validates with the real loader.
 *
 * @module
 */

import { follow, type SpecFiles } from "./_refs.ts";
import { cleanText } from "./_text.ts";

/** Deepest nesting of `items`/`properties` carried over. */
export const MAX_PARAM_DEPTH = 6;

/** A parameter as written in a config. */
export interface Param {
  type: "string" | "integer" | "number" | "boolean" | "array" | "object";
  required?: boolean;
  description?: string;
  default?: unknown;
  enum?: (string | number | boolean)[];
  min_length?: number;
  max_length?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  items?: Param;
  properties?: Record<string, Param>;
}

const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const RESERVED = new Set(Object.getOwnPropertyNames(Object.prototype));
const TYPES = new Set(["string", "integer", "number", "boolean", "array", "object"]);

type Node = Record<string, unknown>;

/** A schema converted, or why it cannot be. */
export type Converted = { param: Param } | { problem: string };

/** Conversion state: the files, and the refs on the current path (cycle detection). */
interface Walk {
  spec: SpecFiles;
  seen: readonly string[];
  depth: number;
}

/**
 * Convert a schema node written in `file`.
 *
 * @param spec the document's files
 * @param schema the schema (or a `$ref` to one)
 * @param file the file it is written in
 */
export function toParam(spec: SpecFiles, schema: unknown, file: string): Converted {
  return convert({ spec, seen: [], depth: 0 }, schema, file);
}

function convert(walk: Walk, schema: unknown, file: string): Converted {
  let followed;
  try {
    followed = follow(walk.spec, schema, file);
  } catch (error) {
    return { problem: (error as Error).message };
  }
  if (followed.keys.some((key) => walk.seen.includes(key)) || walk.depth > MAX_PARAM_DEPTH) {
    return { param: { type: "object" } };
  }
  const inner: Walk = { ...walk, seen: [...walk.seen, ...followed.keys] };
  const node = followed.value;
  if (node === null || typeof node !== "object" || Array.isArray(node)) {
    return node === true || node === undefined ? { param: { type: "object" } } : {
      problem: "schema is not an object",
    };
  }
  const merged = mergeAll(inner, node as Node, followed.file);
  if ("problem" in merged) return merged;
  return build(inner, merged.node, followed.file);
}

/** `allOf` members merged into one node (properties and required united). */
function mergeAll(walk: Walk, node: Node, file: string): { node: Node } | { problem: string } {
  if (!Array.isArray(node.allOf)) return { node };
  const out: Node = { ...node, allOf: undefined };
  const properties: Node = { ...(node.properties as Node ?? {}) };
  const required = new Set<unknown>(Array.isArray(node.required) ? node.required : []);
  for (const member of node.allOf) {
    let followed;
    try {
      followed = follow(walk.spec, member, file);
    } catch (error) {
      return { problem: (error as Error).message };
    }
    if (followed.keys.some((key) => walk.seen.includes(key))) continue;
    const m = followed.value as Node;
    if (m === null || typeof m !== "object") continue;
    const sub = mergeAll(walk, m, followed.file);
    if ("problem" in sub) return sub;
    for (const [k, v] of Object.entries(sub.node)) {
      if (k === "properties" && v && typeof v === "object") Object.assign(properties, v);
      else if (k === "required" && Array.isArray(v)) v.forEach((r) => required.add(r));
      else if (out[k] === undefined) out[k] = v;
    }
  }
  if (Object.keys(properties).length > 0) out.properties = properties;
  out.required = [...required];
  return { node: out };
}

/** The single JSON type of a node, or a problem. */
function typeOf(walk: Walk, node: Node, file: string): Param["type"] | { problem: string } {
  let type = node.type;
  if (Array.isArray(type)) {
    const types = type.filter((t) => t !== "null");
    type = types.length === 1 ? types[0] : types.length === 0 ? undefined : "mixed";
  }
  if (type === undefined) {
    const choices = (node.oneOf ?? node.anyOf) as unknown;
    if (Array.isArray(choices)) {
      const kinds = new Set<string>();
      for (const choice of choices) {
        const c = convert({ ...walk, depth: walk.depth + 1 }, choice, file);
        if ("param" in c) kinds.add(c.param.type);
      }
      kinds.delete("null");
      if (kinds.size === 1) return [...kinds][0] as Param["type"];
      return { problem: "oneOf/anyOf of different types" };
    }
    if (node.properties !== undefined || node.additionalProperties !== undefined) return "object";
    if (node.items !== undefined) return "array";
    if (Array.isArray(node.enum)) return typeof node.enum[0] === "number" ? "number" : "string";
    return "object";
  }
  if (typeof type !== "string" || !TYPES.has(type)) {
    return { problem: `type ${JSON.stringify(type)} is not supported` };
  }
  return type as Param["type"];
}

function build(walk: Walk, node: Node, file: string): Converted {
  const type = typeOf(walk, node, file);
  if (typeof type !== "string") return type;
  const param: Param = { type };
  const description = cleanText(node.description ?? node.title, 1024);
  if (description) param.description = description;
  if (type === "string" || type === "integer" || type === "number" || type === "boolean") {
    scalarRules(param, node);
  }
  if (type === "array" && node.items !== undefined) {
    const items = convert({ ...walk, depth: walk.depth + 1 }, node.items, file);
    if ("param" in items) param.items = { ...items.param, required: undefined };
  }
  if (type === "object" && node.properties && typeof node.properties === "object") {
    const required = new Set(Array.isArray(node.required) ? node.required : []);
    const properties: Record<string, Param> = {};
    for (const [name, child] of Object.entries(node.properties as Node)) {
      if (!PROPERTY_NAME.test(name) || RESERVED.has(name)) continue;
      const c = convert({ ...walk, depth: walk.depth + 1 }, child, file);
      if ("param" in c) properties[name] = { ...c.param, required: required.has(name) };
    }
    if (Object.keys(properties).length > 0) param.properties = properties;
  }
  return { param };
}

function fitsType(type: Param["type"], value: unknown): boolean {
  if (type === "integer") return Number.isInteger(value);
  if (type === "number") return typeof value === "number";
  if (type === "string") return typeof value === "string";
  if (type === "boolean") return typeof value === "boolean";
  return false;
}

function scalarRules(param: Param, node: Node): void {
  const type = param.type;
  if (Array.isArray(node.enum)) {
    const values = node.enum.filter((v) => fitsType(type, v));
    if (values.length > 0 && values.length <= 1000) param.enum = [...new Set(values)];
  }
  if (node.default !== undefined && fitsType(type, node.default)) param.default = node.default;
  const int = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 1e6;
  if (type === "string") {
    if (int(node.minLength)) param.min_length = node.minLength as number;
    if (int(node.maxLength)) param.max_length = node.maxLength as number;
    if (
      typeof node.pattern === "string" && node.pattern.length <= 1024 && unicodeOk(node.pattern)
    ) {
      param.pattern = node.pattern;
    }
  }
  if (type === "integer" || type === "number") {
    if (typeof node.minimum === "number") param.minimum = node.minimum;
    if (typeof node.maximum === "number") param.maximum = node.maximum;
  }
}

function unicodeOk(pattern: string): boolean {
  try {
    new RegExp(pattern, "u");
    return true;
  } catch {
    return false;
  }
}
