/**
 * A tool's `output_schema`: the JSON Schema its result must match, in a small
 * subset that LOOM checks itself. The loader accepts it (shape here, relations
 * in {@linkcode outputSchemaProblems}), `tools/list` shows it as the tool's
 * `outputSchema`, and the gate checks every result against it with a
 * validator compiled once per tool ({@linkcode compileOutputSchema}).
 *
 * The subset: `type` (`object`, `array`, `string`, `number`, `integer`,
 * `boolean`, `null`, or a list of them), `properties`, `required`, `items`,
 * `enum`, `additionalProperties` (a boolean or a schema) and `description`,
 * spelled as JSON Schema spells them. Any other keyword is refused at load:
 * a keyword LOOM would not check must not look as if it were checked. The
 * top level must be `type: object` (MCP requires an object `outputSchema`, and
 * `structuredContent` is an object).
 *
 * Like `param_rules.ts`, this module is where the loader and the gate agree:
 * an `enum` value is checked at load by the same validator as a result.
 *
 * @example
 * ```ts
 * import { compileOutputSchema } from "./output_schema.ts";
 * const check = compileOutputSchema({
 *   type: "object",
 *   properties: { id: { type: "integer" } },
 *   required: ["id"],
 * });
 * check({ id: "7" }); // "result.id: expected integer"
 * check({ id: 7 }); // undefined
 * ```
 *
 * @module
 */

import { z } from "zod";
import type { Located, PathSegment, YamlSource } from "./_yaml.ts";
import { enumProblem } from "./param_rules.ts";
import type { OutputSchemaSpec, OutputType } from "./types.ts";

/** The JSON types an output schema may name. */
export const OUTPUT_TYPES: readonly OutputType[] = [
  "object",
  "array",
  "string",
  "number",
  "integer",
  "boolean",
  "null",
];

/** The keywords of the supported subset, as JSON Schema spells them. */
export const OUTPUT_SCHEMA_KEYWORDS: readonly string[] = [
  "type",
  "properties",
  "required",
  "items",
  "enum",
  "additionalProperties",
  "description",
];

/** How deep an output schema may nest. */
export const MAX_OUTPUT_SCHEMA_DEPTH = 32;

const OutputTypeName = z.enum(OUTPUT_TYPES as [OutputType, ...OutputType[]]);
const PropertyName = z.string().min(1).max(256);

/** One node of an output schema (the whole schema is one too). */
export const OutputSchemaNode: z.ZodType<OutputSchemaSpec> = z.strictObject({
  type: z.union([OutputTypeName, z.array(OutputTypeName).min(1).max(OUTPUT_TYPES.length)], {
    error: `Expected a type (${OUTPUT_TYPES.join(", ")}) or a list of types`,
  }).optional().meta({ description: "JSON type, or a list of types; absent: any value" }),
  description: z.string().max(4096).optional().meta({
    description: "Shown to the model. Threat: scanned at load for tool-poisoning text",
  }),
  enum: z.array(z.unknown()).min(1).max(1000).optional().meta({
    description: "The only values allowed",
  }),
  required: z.array(PropertyName).max(1000).optional().meta({
    description: "Properties an object must have",
  }),
  get properties() {
    return z.record(PropertyName, OutputSchemaNode).optional().meta({
      description: "Property name -> schema",
    });
  },
  get items() {
    return OutputSchemaNode.optional().meta({ description: "Schema of every array element" });
  },
  get additionalProperties() {
    return z.union([z.boolean(), OutputSchemaNode], {
      error: "Expected true, false or a schema (a mapping)",
    }).optional().meta({
      description: "Properties not named in properties: true (default), false, or their schema",
    });
  },
}).meta({ id: "OutputSchema", title: "Tool output schema (JSON Schema subset)" }) as z.ZodType<
  OutputSchemaSpec
>;

/** The `output_schema` key of an exposed tool (its top-level `type: object` is a load-time check). */
export const ToolOutputSchema = OutputSchemaNode.optional().meta({
  description: "JSON Schema (subset) of the result after the bridge's response_path; listed " +
    "as outputSchema, checked on every call, and sent as structuredContent too",
});

// --- load-time checks -------------------------------------------------------

function typesOf(node: OutputSchemaSpec): readonly OutputType[] | null {
  if (node.type === undefined) return null;
  return typeof node.type === "string" ? [node.type] : node.type;
}

/**
 * The relations a schema-valid output schema must also respect: `type:
 * object` at the top, keywords only where their type allows them, `required`
 * names that can be present, `enum` values that match their node, a bounded
 * depth.
 *
 * @param schema the parsed output schema
 * @param path where it is in the document
 * @param source positions
 * @returns the problems, positioned
 */
export function outputSchemaProblems(
  schema: OutputSchemaSpec,
  path: readonly PathSegment[],
  source: YamlSource,
): Located[] {
  const problems: Located[] = [];
  const types = typesOf(schema);
  if (types === null || types.length !== 1 || types[0] !== "object") {
    problems.push(source.at(
      [...path, ...(types === null ? [] : ["type"])],
      'Output schema must have type "object" at the top level: MCP requires an object ' +
        "outputSchema and structuredContent; wrap another value in a property",
      types === null,
    ));
  }
  checkNode(schema, [...path], 0, source, problems);
  return problems;
}

function checkNode(
  node: OutputSchemaSpec,
  path: PathSegment[],
  depth: number,
  source: YamlSource,
  problems: Located[],
): void {
  const error = (at: PathSegment[], message: string, key = false) =>
    problems.push(source.at(at, message, key));
  if (depth > MAX_OUTPUT_SCHEMA_DEPTH) {
    error(path, `Output schema nests deeper than ${MAX_OUTPUT_SCHEMA_DEPTH} levels`);
    return;
  }
  const types = typesOf(node);
  if (types !== null && new Set(types).size !== types.length) {
    error([...path, "type"], "Type list names a type twice");
  }
  const allows = (type: OutputType) => types === null || types.includes(type);
  const misplaced = (key: string, type: OutputType) =>
    error([...path, key], `Key "${key}" applies only to type ${type}, not ${types!.join(", ")}`);
  if (!allows("object")) {
    for (const key of ["properties", "required", "additionalProperties"] as const) {
      if (node[key] !== undefined) misplaced(key, "object");
    }
  }
  if (!allows("array") && node.items !== undefined) misplaced("items", "array");
  const required = node.required ?? [];
  const seen = new Set<string>();
  required.forEach((name, i) => {
    if (seen.has(name)) error([...path, "required", i], `Duplicate required name "${name}"`);
    seen.add(name);
    const declared = node.properties !== undefined && Object.hasOwn(node.properties, name);
    if (!declared && node.additionalProperties === false) {
      error(
        [...path, "required", i],
        `Required property "${name}" is not in properties, and additionalProperties is false`,
      );
    }
  });
  if (node.enum !== undefined) {
    const withoutEnum = compileOutputSchema({ ...node, enum: undefined });
    node.enum.forEach((value, i) => {
      const problem = withoutEnum(value, "value");
      if (problem !== undefined) error([...path, "enum", i], `Enum ${problem}`);
    });
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    checkNode(child, [...path, "properties", name], depth + 1, source, problems);
  }
  if (node.items !== undefined) {
    checkNode(node.items, [...path, "items"], depth + 1, source, problems);
  }
  if (typeof node.additionalProperties === "object") {
    checkNode(
      node.additionalProperties,
      [...path, "additionalProperties"],
      depth + 1,
      source,
      problems,
    );
  }
}

// --- the validator ------------------------------------------------------------

/**
 * Checks a JSON value against an output schema.
 *
 * @param value a JSON value (as `JSON.parse` gives it)
 * @param root the name the first path segment shows (default `result`)
 * @returns the first mismatch as `path: problem` (`result.items[2].id:
 *   expected integer`), or undefined when the value matches
 */
export type OutputValidator = (value: unknown, root?: string) => string | undefined;

const TYPE_BIT: Readonly<Record<OutputType, number>> = {
  object: 1,
  array: 2,
  string: 4,
  number: 8,
  integer: 16,
  boolean: 32,
  null: 64,
};

interface CompiledNode {
  /** Bit set of allowed types; 0 for any. */
  types: number;
  /** "expected integer", "expected string or null". */
  typeProblem: string;
  enumSpec: { enum: readonly unknown[] } | null;
  required: readonly string[];
  properties: ReadonlyMap<string, CompiledNode> | null;
  items: CompiledNode | null;
  /** true: any other property; false: none; else their schema. */
  additional: boolean | CompiledNode;
}

function compileNode(node: OutputSchemaSpec): CompiledNode {
  const types = typesOf(node) ?? [];
  let bits = 0;
  for (const type of types) bits |= TYPE_BIT[type];
  const additional = node.additionalProperties ?? true;
  return {
    types: bits,
    typeProblem: `expected ${types.join(" or ")}`,
    enumSpec: node.enum === undefined ? null : { enum: node.enum },
    required: node.required ?? [],
    properties: node.properties === undefined
      ? null
      : new Map(Object.entries(node.properties).map(([name, child]) => [name, compileNode(child)])),
    items: node.items === undefined ? null : compileNode(node.items),
    additional: typeof additional === "boolean" ? additional : compileNode(additional),
  };
}

function kindBits(value: unknown): number {
  switch (typeof value) {
    case "string":
      return TYPE_BIT.string;
    case "number":
      // An integer is a number too; a non-finite number is neither (not JSON).
      if (!Number.isFinite(value)) return 0;
      return Number.isInteger(value) ? TYPE_BIT.integer | TYPE_BIT.number : TYPE_BIT.number;
    case "boolean":
      return TYPE_BIT.boolean;
    case "object":
      if (value === null) return TYPE_BIT.null;
      return Array.isArray(value) ? TYPE_BIT.array : TYPE_BIT.object;
    default:
      return 0;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

/** `path.name`, or `path["odd name"]` (cut to 64 characters, escaped by JSON). */
function member(path: string, name: string): string {
  if (IDENTIFIER.test(name)) return `${path}.${name}`;
  const shown = name.length > 64 ? `${name.slice(0, 63)}\u2026` : name;
  return `${path}[${JSON.stringify(shown)}]`;
}

function problemOf(node: CompiledNode, value: unknown, path: string): string | undefined {
  const kind = kindBits(value);
  if (node.types !== 0 && (node.types & kind) === 0) return `${path}: ${node.typeProblem}`;
  if (kind === TYPE_BIT.object) {
    const record = value as Record<string, unknown>;
    for (const name of node.required) {
      if (!Object.hasOwn(record, name)) return `${path}: missing required property "${name}"`;
    }
    if (node.properties !== null || node.additional !== true) {
      for (const name of Object.keys(record)) {
        const child = node.properties?.get(name);
        const where = member(path, name);
        if (child !== undefined) {
          const problem = problemOf(child, record[name], where);
          if (problem !== undefined) return problem;
        } else if (node.additional === false) {
          return `${where}: not allowed (additionalProperties is false)`;
        } else if (node.additional !== true) {
          const problem = problemOf(node.additional, record[name], where);
          if (problem !== undefined) return problem;
        }
      }
    }
  } else if (kind === TYPE_BIT.array && node.items !== null) {
    const list = value as unknown[];
    for (let i = 0; i < list.length; i++) {
      const problem = problemOf(node.items, list[i], `${path}[${i}]`);
      if (problem !== undefined) return problem;
    }
  }
  if (node.enumSpec !== null) {
    const problem = enumProblem(node.enumSpec, value);
    if (problem !== undefined) return `${path}: ${problem}`;
  }
  return undefined;
}

/**
 * Compile an output schema into a validator, once (the gate does it when it
 * is built, one per tool).
 *
 * @param schema a schema the loader accepted
 * @returns the validator
 */
export function compileOutputSchema(schema: OutputSchemaSpec): OutputValidator {
  const root = compileNode(schema);
  return (value, name = "result") => problemOf(root, value, name);
}

/**
 * Resolve a parsed output schema: a copy holding only the keys written,
 * every map an own-property object (so a property named like an `Object`
 * method stays data).
 *
 * @param node the schema as zod parsed it
 * @returns the resolved schema, as `tools/list` shows it
 */
export function resolveOutputSchema(node: OutputSchemaSpec): OutputSchemaSpec {
  const out: OutputSchemaSpec = {};
  if (node.type !== undefined) {
    out.type = typeof node.type === "string" ? node.type : [...node.type];
  }
  if (node.description !== undefined) out.description = node.description;
  if (node.properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [name, resolveOutputSchema(child)]),
    );
  }
  if (node.required !== undefined) out.required = [...node.required];
  if (node.items !== undefined) out.items = resolveOutputSchema(node.items);
  if (node.additionalProperties !== undefined) {
    out.additionalProperties = typeof node.additionalProperties === "boolean"
      ? node.additionalProperties
      : resolveOutputSchema(node.additionalProperties);
  }
  if (node.enum !== undefined) out.enum = structuredClone(node.enum);
  return out;
}
