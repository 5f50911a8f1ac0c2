/**
 * The validator of a tool's `input_schema`: the schema the loader accepted
 * (`input_schema.ts`), compiled once per tool when the gate is built, by
 * `@cfworker/json-schema` in dialect 2020-12. The validator interprets the
 * schema (it generates no code), resolves only the references the loader
 * proved local, and never fetches anything.
 *
 * The schema it holds is a private copy: the validator annotates the objects
 * it indexes, and the config's own schema is frozen and listed verbatim.
 *
 * A failure is reported as its first error that says what is wrong rather
 * than where to look (a `type`, `required`, `enum`, `pattern`, ... error, not
 * the `properties` or `$ref` that led to it), at its instance path written as
 * LOOM writes argument paths (`address.zip`, `tags[2]`); a key that is not a
 * plain identifier is shown by its position (`[#3]`), never as raw input.
 *
 * @example
 * ```ts
 * import { compileInputSchema } from "./input_check.ts";
 * const check = compileInputSchema({
 *   type: "object",
 *   properties: { zip: { type: "string" } },
 *   required: ["zip"],
 * });
 * check({}); // { field: "zip", message: "is required" }
 * check({ zip: "75001" }); // undefined
 * ```
 *
 * @module
 */

import { type OutputUnit, type Schema, Validator } from "@cfworker/json-schema";
import { MCP_HEADER_KEYWORD } from "./mcp_header.ts";
import type { InputSchemaSpec } from "./types.ts";

/** Why a call's arguments do not match: the argument path and what is wrong. */
export interface InputSchemaFailure {
  /** Dotted path of the value (`address.zip`), or "" for the arguments as a whole. */
  field: string;
  /** The end of a sentence (`is required`, `must be of type "string"`). */
  message: string;
}

/**
 * Checks a call's arguments (a plain JSON object) against a tool's input
 * schema. Defaults in the schema are not applied.
 */
export type InputSchemaValidator = (
  args: Record<string, unknown>,
) => InputSchemaFailure | undefined;

/** Errors that only lead to the one that says what is wrong. */
const LEADS = new Set([
  "properties",
  "patternProperties",
  "additionalProperties",
  "unevaluatedProperties",
  "items",
  "prefixItems",
  "unevaluatedItems",
  "$ref",
  "allOf",
  "if",
  "dependentSchemas",
]);

const SAFE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Compile a tool's input schema, once.
 *
 * @param schema a schema the loader accepted
 * @returns the validator
 */
export function compileInputSchema(schema: InputSchemaSpec): InputSchemaValidator {
  const validator = new Validator(structuredClone(schema) as Schema, "2020-12", true);
  const safeIntegers = headerIntegers(schema);
  return (args) => {
    let units: readonly OutputUnit[];
    try {
      const result = validator.validate(args);
      if (result.valid) return integerProblem(safeIntegers, args);
      units = result.errors;
    } catch {
      // The validator failed on this input: the call was not checked, so it fails closed.
      return { field: "", message: "Arguments could not be checked against the input schema" };
    }
    return describe(units, args);
  };
}

/** Top-level properties of type integer that clients mirror into a header. */
function headerIntegers(schema: InputSchemaSpec): string[] {
  const properties = schema.properties;
  if (typeof properties !== "object" || properties === null) return [];
  return Object.entries(properties as Record<string, unknown>)
    .filter(([, p]) => {
      const property = p as Record<string, unknown> | null;
      return typeof property === "object" && property !== null &&
        property.type === "integer" && Object.hasOwn(property, MCP_HEADER_KEYWORD);
    })
    .map(([name]) => name);
}

function integerProblem(
  names: readonly string[],
  args: Record<string, unknown>,
): InputSchemaFailure | undefined {
  for (const name of names) {
    const value = Object.hasOwn(args, name) ? args[name] : undefined;
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      return {
        field: name,
        message: "must be a safe integer (at most 9007199254740991 in magnitude)",
      };
    }
  }
  return undefined;
}

function describe(units: readonly OutputUnit[], args: unknown): InputSchemaFailure {
  const unit = units.find((u) => !LEADS.has(u.keyword)) ?? units[units.length - 1];
  if (unit === undefined) return { field: "", message: "does not match the input schema" };
  const field = fieldOf(unit.instanceLocation, args);
  const error = unit.error.replace(/\.$/, "");
  switch (unit.keyword) {
    case "required": {
      const name = /"(.*)"$/.exec(error)?.[1];
      if (name !== undefined && SAFE_NAME.test(name)) {
        return { field: join(field, name), message: "is required" };
      }
      return { field, message: "is missing a required property" };
    }
    case "type": {
      const expected = /Expected (.+)$/.exec(error)?.[1];
      return { field, message: `must be of type ${expected ?? "declared by the schema"}` };
    }
    case "false":
      return { field, message: "is not allowed" };
    case "propertyNames":
      return { field, message: "has a property name that does not match propertyNames" };
    case "anyOf":
    case "oneOf":
    case "not":
    case "contains":
      return { field, message: `${lowerFirst(error)} (${unit.keywordLocation})` };
    default:
      return { field, message: lowerFirst(error) };
  }
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text[0].toLowerCase() + text.slice(1) : text;
}

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/** `#/address/zip` -> `address.zip`, `#/tags/2` -> `tags[2]`, an odd key -> `[#index]`. */
function fieldOf(pointer: string, args: unknown): string {
  if (pointer === "#" || pointer === "") return "";
  let value = args;
  let field = "";
  for (const raw of pointer.replace(/^#\//, "").split("/")) {
    let key: string;
    try {
      key = decodeURI(raw).replaceAll("%23", "#").replaceAll("~1", "/").replaceAll("~0", "~");
    } catch {
      return field;
    }
    if (Array.isArray(value)) {
      field = `${field}[${key}]`;
      value = value[Number(key)];
    } else if (typeof value === "object" && value !== null) {
      const keys = Object.keys(value);
      field = SAFE_NAME.test(key) ? join(field, key) : `${field}[#${keys.indexOf(key)}]`;
      value = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
    } else {
      return field;
    }
  }
  return field;
}
