/**
 * The value rules of a declared tool parameter, in one place: type, string
 * length (in code points, 10,000 when no `max_length` is declared), array
 * length, `minimum` / `maximum`, whole-string `pattern` and `enum`.
 *
 * Two callers apply them, and must never disagree: the loader, to the
 * `default` and `enum` values a config declares (a default is sent as it is,
 * so a value the gate would refuse must not load), and the gate, to every
 * argument of every call (`src/security/validate/validate_arguments.ts`).
 * The gate adds what only concerns untrusted input (coercion of numeric and
 * boolean strings, nesting and size bounds, injection screening, running a
 * costly pattern off its thread); each rule's test and its wording live here.
 *
 * The per-value functions allocate nothing when the value is fine: they run
 * on the gate's hot path.
 *
 * @example
 * ```ts
 * import { paramValueProblem } from "./param_rules.ts";
 * paramValueProblem({ type: "integer", required: true, maximum: 9, allow: [] }, 12);
 * // "must be at most 9"
 * ```
 *
 * @module
 */

import type { z } from "zod";
import { canonicalJson } from "../_util/canonical_json.ts";
import { quote } from "./_path.ts";
import type { Parameter } from "./schema.ts";
import type { ParamSpec, ParamType } from "./types.ts";

/** Strings are capped at this many code points when no `max_length` is declared. */
export const DEFAULT_STRING_MAX_LENGTH = 10_000;

/** Arrays longer than this are refused, whatever `max_length` says. */
export const MAX_ARRAY_ITEMS = 1_000;

/** A parameter as the schema parsed it (snake_case). */
export type ParsedParameter = z.output<typeof Parameter>;

/**
 * Resolve a parsed parameter into its {@linkcode ParamSpec}: camelCase, and a
 * string's `maxLength` made explicit (the default, or `min_length` when that
 * is larger).
 *
 * @param p the parameter as the schema parsed it
 * @returns the resolved spec (items and properties resolved too)
 */
export function resolveParam(p: ParsedParameter): ParamSpec {
  const spec: ParamSpec = { type: p.type, required: p.required, allow: [...p.allow] };
  if (p.description !== undefined) spec.description = p.description;
  if (p.default !== undefined) spec.default = p.default;
  if (p.enum !== undefined) spec.enum = [...p.enum];
  if (p.min_length !== undefined) spec.minLength = p.min_length;
  if (p.max_length !== undefined) spec.maxLength = p.max_length;
  else if (p.type === "string") {
    spec.maxLength = Math.max(DEFAULT_STRING_MAX_LENGTH, p.min_length ?? 0);
  }
  if (p.minimum !== undefined) spec.minimum = p.minimum;
  if (p.maximum !== undefined) spec.maximum = p.maximum;
  if (p.pattern !== undefined) spec.pattern = p.pattern;
  if (p.mcp_header !== undefined) spec.mcpHeader = p.mcp_header;
  if (p.items !== undefined) spec.items = resolveParam(p.items);
  if (p.properties !== undefined) {
    spec.properties = Object.fromEntries(
      Object.entries(p.properties).map(([name, child]) => [name, resolveParam(child)]),
    );
  }
  return spec;
}

/** What a value of the wrong type is told, by parameter type. */
export const TYPE_PROBLEM: Readonly<Record<ParamType, string>> = {
  string: "must be a string",
  integer: "must be an integer",
  number: "must be a number",
  boolean: "must be a boolean",
  array: "must be an array",
  object: "must be an object",
};

/** The whole-string form of a parameter pattern: `^(?:pattern)$`, compiled in unicode mode. */
export function anchorPattern(pattern: string): string {
  return `^(?:${pattern})$`;
}

/** The largest string a parameter admits, in code points. */
export function stringMaxLength(spec: Pick<ParamSpec, "maxLength">): number {
  return spec.maxLength ?? DEFAULT_STRING_MAX_LENGTH;
}

/**
 * Why a string breaks a string parameter's rules other than `pattern` and
 * `enum` (well-formed Unicode, length in code points), or undefined.
 *
 * @param spec the parameter
 * @param text the value
 * @returns the end of a sentence ("must be at most 20 characters"), or undefined
 */
export function stringProblem(spec: ParamSpec, text: string): string | undefined {
  if (!text.isWellFormed()) return "must be well-formed Unicode (no lone surrogates)";
  const max = stringMaxLength(spec);
  if (codePointsExceed(text, max)) return `must be at most ${max} characters`;
  if (spec.minLength !== undefined && codePointsBelow(text, spec.minLength)) {
    return `must be at least ${spec.minLength} characters`;
  }
  return undefined;
}

/**
 * Why a finite number breaks an integer or number parameter's rules (whole
 * and safe for `integer`, `minimum`, `maximum`), or undefined.
 *
 * @param spec the parameter
 * @param n a finite number
 * @returns the end of a sentence ("must be at least 1"), or undefined
 */
export function numberProblem(spec: ParamSpec, n: number): string | undefined {
  if (spec.type === "integer") {
    if (!Number.isInteger(n)) return "must be an integer";
    if (!Number.isSafeInteger(n)) {
      return "must be a safe integer (at most 9007199254740991 in magnitude)";
    }
  }
  if (spec.minimum !== undefined && n < spec.minimum) return `must be at least ${spec.minimum}`;
  if (spec.maximum !== undefined && n > spec.maximum) return `must be at most ${spec.maximum}`;
  return undefined;
}

/** The largest array a parameter admits. */
export function arrayMaxItems(spec: Pick<ParamSpec, "maxLength">): number {
  return Math.min(spec.maxLength ?? MAX_ARRAY_ITEMS, MAX_ARRAY_ITEMS);
}

/**
 * Why an array's length breaks an array parameter's rules, or undefined.
 *
 * @param spec the parameter
 * @param length the array's length
 * @returns the end of a sentence ("must have at most 1000 items"), or undefined
 */
export function arrayLengthProblem(spec: ParamSpec, length: number): string | undefined {
  const max = arrayMaxItems(spec);
  if (length > max) return `must have at most ${max} items`;
  if (spec.minLength !== undefined && length < spec.minLength) {
    return `must have at least ${spec.minLength} items`;
  }
  return undefined;
}

/**
 * Why a value is not one of a parameter's `enum` values, or undefined (also
 * when no enum is declared). Scalars compare with `===`; arrays and objects
 * by canonical JSON. A tool's `output_schema` checks its `enum` with it too
 * (`output_schema.ts`).
 *
 * @param spec the parameter (only its `enum` is read)
 * @param value the (coerced) value
 * @returns `must be one of "a", "b"`, or undefined
 */
export function enumProblem(spec: Pick<ParamSpec, "enum">, value: unknown): string | undefined {
  const values = spec.enum;
  if (values === undefined || values.length === 0) return undefined;
  const isPrimitive = typeof value !== "object" || value === null;
  const text = isPrimitive ? "" : canonicalJson(value);
  for (const allowed of values) {
    if (
      isPrimitive
        ? allowed === value
        : typeof allowed === "object" && allowed !== null && canonicalJson(allowed) === text
    ) {
      return undefined;
    }
  }
  const shown = values.slice(0, 20).map((v) => JSON.stringify(v) ?? String(v)).join(", ");
  return `must be one of ${values.length > 20 ? `${shown}, ...` : shown}`;
}

/** What a value that does not match a parameter's pattern is told. */
export function patternProblem(pattern: string): string {
  return `must match the pattern ${JSON.stringify(pattern)}`;
}

/**
 * Why a config-authored value (a `default`, an `enum` entry) breaks its
 * parameter's rules, or undefined. The same rules as a call's argument, with
 * no coercion: a default is used as it is written.
 *
 * @param spec the resolved parameter
 * @param value the value as the config holds it
 * @param depth nesting so far (bounded at 64, as the loader bounds specs)
 * @returns the end of a sentence, or undefined when the value fits
 */
export function paramValueProblem(spec: ParamSpec, value: unknown, depth = 0): string | undefined {
  if (depth > 64) return "is nested too deeply";
  let problem: string | undefined;
  switch (spec.type) {
    case "string":
      if (typeof value !== "string") return TYPE_PROBLEM.string;
      problem = stringProblem(spec, value);
      if (
        problem === undefined && spec.pattern !== undefined &&
        !new RegExp(anchorPattern(spec.pattern), "u").test(value)
      ) {
        problem = patternProblem(spec.pattern);
      }
      break;
    case "integer":
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) return TYPE_PROBLEM[spec.type];
      problem = numberProblem(spec, value);
      break;
    case "boolean":
      if (typeof value !== "boolean") return TYPE_PROBLEM.boolean;
      break;
    case "array":
      if (!Array.isArray(value)) return TYPE_PROBLEM.array;
      problem = arrayLengthProblem(spec, value.length);
      for (let i = 0; problem === undefined && spec.items && i < value.length; i++) {
        const inner = paramValueProblem(spec.items, value[i], depth + 1);
        if (inner !== undefined) problem = `has an item that ${inner}`;
      }
      break;
    case "object": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return TYPE_PROBLEM.object;
      }
      if (spec.properties) problem = propertiesProblem(spec.properties, value, depth);
      break;
    }
  }
  return problem ?? enumProblem(spec, value);
}

function propertiesProblem(
  properties: Readonly<Record<string, ParamSpec>>,
  value: object,
  depth: number,
): string | undefined {
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const child = Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (!child) return `has undeclared property ${quote(key)}`;
    const problem = paramValueProblem(child, record[key], depth + 1);
    if (problem) return `has property ${quote(key)} that ${problem}`;
  }
  for (const [key, child] of Object.entries(properties)) {
    if (child.required && child.default === undefined && !Object.hasOwn(record, key)) {
      return `is missing required property ${quote(key)}`;
    }
  }
  return undefined;
}

function codePoints(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++, n++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}

/**
 * Whether a string holds more than `max` code points. The UTF-16 length
 * bounds the count from above (and from below by half), so most strings are
 * decided without counting.
 */
export function codePointsExceed(value: string, max: number): boolean {
  return value.length > max && codePoints(value) > max;
}

function codePointsBelow(value: string, min: number): boolean {
  return value.length < min || (value.length < 2 * min && codePoints(value) < min);
}
