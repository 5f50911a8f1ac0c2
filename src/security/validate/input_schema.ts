/**
 * A tool's MCP `inputSchema`, as JSON Schema 2020-12, built from its declared
 * parameters (README.md, "A config").
 *
 * The schema states exactly what {@linkcode validateArguments} enforces, so a
 * client validating against it is never surprised:
 *
 * - objects with declared `properties` (and the top level) carry
 *   `additionalProperties: false` and their `required` list;
 * - an `object` with no `properties` or an `array` with no `items` is
 *   free-form JSON and is published without further constraints;
 * - strings carry `maxLength` (10,000 when not declared), counted in code points;
 * - `pattern` is published anchored (`^(?:p)$`) because LOOM matches the whole
 *   string;
 * - arrays carry `maxItems` (at most 1,000); a declared `minLength` /
 *   `maxLength` on an array bounds its item count;
 * - a top-level parameter with `mcp_header: Name` carries
 *   `"x-mcp-header": "Name"` (MCP 2026-07-28 clients mirror it into an
 *   `Mcp-Param-Name` header, `src/config/mcp_header.ts`).
 *
 * A tool that declares an `input_schema` instead is listed with that schema,
 * verbatim ({@linkcode listedInputSchema}).
 *
 * @module
 */

import {
  anchorPattern,
  arrayMaxItems,
  type InputSchemaSpec,
  MCP_HEADER_KEYWORD,
  type ParamSpec,
  stringMaxLength,
  type ToolSpec,
} from "../../config/mod.ts";

/** Recursion guard against a cyclic ParamSpec; the YAML loader caps nesting at 64. */
const MAX_SCHEMA_DEPTH = 64;

/**
 * The JSON Schema keywords LOOM emits for one parameter: the declared keys
 * that JSON Schema names alike (`pattern` published anchored; `minLength` /
 * `maxLength` of an array published as `minItems` / `maxItems`), plus the
 * array and object keywords.
 */
export interface JsonSchema extends Omit<ParamSpec, "required" | "items" | "properties" | "allow"> {
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  additionalProperties?: false;
  /** The header name MCP clients mirror a top-level argument into. */
  [MCP_HEADER_KEYWORD]?: string;
}

/** A tool's `inputSchema`: always a closed object. */
export interface JsonSchemaObject extends JsonSchema {
  type: "object";
  properties: Readonly<Record<string, JsonSchema>>;
  required: readonly string[];
  additionalProperties: false;
}

const CACHE = new WeakMap<ToolSpec, JsonSchemaObject>();

/**
 * Build (once per tool object) the MCP `inputSchema` of a tool. The result is
 * deeply frozen and shared between calls.
 *
 * @param tool the resolved tool spec
 * @returns a JSON Schema 2020-12 object schema with `additionalProperties: false`
 * @throws {RangeError} when parameters nest deeper than 64 levels (a cycle;
 * YAML configs cannot nest deeper). Nesting beyond 8 levels is published as
 * declared, but {@linkcode validateArguments} refuses values that deep.
 *
 * @example
 * ```ts
 * import { toolInputSchema } from "./input_schema.ts";
 * toolInputSchema({
 *   name: "get_user",
 *   description: "Fetch a user",
 *   access: "read",
 *   parameters: { id: { type: "integer", required: true, allow: [] } },
 * });
 * // { type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: false }
 * ```
 */
export function toolInputSchema(tool: ToolSpec): JsonSchemaObject {
  let schema = CACHE.get(tool);
  if (schema === undefined) {
    const { properties, required } = objectParts(tool.parameters, 1, tool.name);
    schema = deepFreeze({ type: "object", properties, required, additionalProperties: false });
    CACHE.set(tool, schema);
  }
  return schema;
}

/**
 * The `inputSchema` a tool is listed with: its `input_schema` exactly as
 * written (the config's own frozen object), or the schema of its parameters.
 *
 * @param tool the resolved tool spec
 * @returns a JSON Schema 2020-12 object schema
 */
export function listedInputSchema(tool: ToolSpec): InputSchemaSpec | JsonSchemaObject {
  return tool.inputSchema ?? toolInputSchema(tool);
}

function objectParts(
  params: Readonly<Record<string, ParamSpec>>,
  depth: number,
  path: string,
): { properties: Record<string, JsonSchema>; required: string[] } {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, spec] of Object.entries(params)) {
    const schema = paramSchema(spec, depth, `${path}.${name}`);
    if (depth === 1 && spec.mcpHeader !== undefined) schema[MCP_HEADER_KEYWORD] = spec.mcpHeader;
    Object.defineProperty(properties, name, {
      value: schema,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    if (spec.required) required.push(name);
  }
  return { properties, required };
}

function paramSchema(spec: ParamSpec, depth: number, path: string): JsonSchema {
  if (depth > MAX_SCHEMA_DEPTH) {
    throw new RangeError(
      `Cannot build input schema at "${path}": nests deeper than ${MAX_SCHEMA_DEPTH}`,
    );
  }
  const out: JsonSchema = { type: spec.type };
  if (spec.description !== undefined) out.description = spec.description;
  if (spec.default !== undefined) out.default = structuredClone(spec.default);
  if (spec.enum !== undefined) out.enum = structuredClone(spec.enum);
  switch (spec.type) {
    case "string":
      if (spec.minLength !== undefined) out.minLength = spec.minLength;
      out.maxLength = stringMaxLength(spec);
      if (spec.pattern !== undefined) out.pattern = anchorPattern(spec.pattern);
      break;
    case "integer":
    case "number":
      if (spec.minimum !== undefined) out.minimum = spec.minimum;
      if (spec.maximum !== undefined) out.maximum = spec.maximum;
      break;
    case "array":
      if (spec.minLength !== undefined) out.minItems = spec.minLength;
      out.maxItems = arrayMaxItems(spec);
      if (spec.items !== undefined) out.items = paramSchema(spec.items, depth + 1, `${path}[]`);
      break;
    case "object":
      if (spec.properties !== undefined) {
        const { properties, required } = objectParts(spec.properties, depth + 1, path);
        out.properties = properties;
        out.required = required;
        out.additionalProperties = false;
      }
      break;
    case "boolean":
      break;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
