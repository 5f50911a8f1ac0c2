/**
 * The JSON Schema 2020-12 keywords an `input_schema` may use, grouped by the
 * kind of value each takes (private to config/). `input_schema.ts` checks a
 * schema's shape with them and `_input_refs.ts` follows its subschemas.
 *
 * @module
 */

/** Keywords whose value is one schema. */
export const SCHEMA_VALUED = new Set([
  "items",
  "contains",
  "additionalProperties",
  "propertyNames",
  "if",
  "then",
  "else",
  "not",
  "unevaluatedItems",
  "unevaluatedProperties",
  "contentSchema",
]);
/** Keywords whose value is a list of schemas. */
export const SCHEMA_ARRAYS = new Set(["prefixItems", "allOf", "anyOf", "oneOf"]);
/** Keywords whose value maps names to schemas. */
export const SCHEMA_MAPS = new Set([
  "$defs",
  "properties",
  "patternProperties",
  "dependentSchemas",
]);
/** Applicators that apply to the same instance: a `$ref` loop through only these never ends. */
export const IN_PLACE = new Set(["allOf", "anyOf", "oneOf", "not", "if", "then", "else"]);
/** Keywords whose value is a string. */
export const STRINGS = new Set([
  "$anchor",
  "$ref",
  "$comment",
  "title",
  "description",
  "format",
  "contentEncoding",
  "contentMediaType",
  "pattern",
]);
/** Keywords whose value is a number. */
export const NUMBERS = new Set([
  "multipleOf",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
]);
/** Keywords whose value is a non-negative integer. */
export const COUNTS = new Set([
  "maxLength",
  "minLength",
  "maxItems",
  "minItems",
  "maxContains",
  "minContains",
  "maxProperties",
  "minProperties",
]);
/** Keywords whose value is a boolean. */
export const BOOLEANS = new Set(["uniqueItems", "deprecated", "readOnly", "writeOnly"]);
/** Keywords whose value is any JSON value. */
export const ANY_VALUE = new Set(["const", "default"]);
/** The names `type` may use. */
export const TYPE_NAMES = ["array", "boolean", "integer", "null", "number", "object", "string"];
/** The remaining keywords, each checked on its own. */
export const OTHER = ["$schema", "type", "required", "dependentRequired", "enum", "examples"];

/** Every keyword LOOM accepts in an input schema, as JSON Schema 2020-12 spells it. */
export const INPUT_SCHEMA_KEYWORDS: readonly string[] = [
  ...SCHEMA_VALUED,
  ...SCHEMA_ARRAYS,
  ...SCHEMA_MAPS,
  ...STRINGS,
  ...NUMBERS,
  ...COUNTS,
  ...BOOLEANS,
  ...ANY_VALUE,
  ...OTHER,
];
/** Every accepted keyword, for lookups. */
export const KNOWN = new Set(INPUT_SCHEMA_KEYWORDS);

/** Keywords refused with a reason of their own. */
export const REFUSED: Readonly<Record<string, string>> = {
  $id: "$id is not supported: an input schema is one document, and references stay inside it " +
    "(#...)",
  $dynamicRef: "$dynamicRef is not supported by LOOM's validator",
  $dynamicAnchor: "$dynamicAnchor is not supported by LOOM's validator",
  $vocabulary: "$vocabulary belongs in meta-schemas, not in a tool's input schema",
  $recursiveRef: "$recursiveRef is a draft 2019-09 keyword; this schema is 2020-12",
  $recursiveAnchor: "$recursiveAnchor is a draft 2019-09 keyword; this schema is 2020-12",
  definitions: 'definitions is a draft-07 keyword: use "$defs"',
  dependencies: 'dependencies is a draft-07 keyword: use "dependentRequired" or "dependentSchemas"',
};

/** A YAML mapping (a JSON object), not a list or a scalar. */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
