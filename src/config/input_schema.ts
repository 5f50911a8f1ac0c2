/**
 * A tool's `input_schema`: its arguments as a verbatim JSON Schema (dialect
 * 2020-12), the alternative to `parameters`. `tools/list` shows it exactly as
 * written (`$schema`, `$defs`, `$anchor`, `allOf`/`anyOf`, `if`/`then`/`else`,
 * `additionalProperties`, `x-` extensions), and the gate enforces it on every
 * call with a real JSON Schema 2020-12 validator (`@cfworker/json-schema`, an
 * interpreter: no code is generated from the schema), compiled once per tool
 * when the gate is built ({@linkcode compileInputSchema}, `input_check.ts`).
 *
 * What the loader refuses here, each at its `file:line:column`:
 *
 * - a top level that is not `type: object`, and a `$schema` other than
 *   `https://json-schema.org/draft/2020-12/schema` (only at the top level);
 * - `$id`, and any `$ref` that is not a fragment of this schema (`#...`):
 *   nothing is ever fetched, and every reference must resolve here, to a
 *   subschema or an `$anchor` (unique);
 * - keywords the validator would not check (`$dynamicRef`, `$dynamicAnchor`,
 *   `$vocabulary`, draft-07 and 2019-09 spellings) and unknown keys, so a typo
 *   never looks like a rule; keys starting with `x-` are extensions, kept;
 * - values of the wrong kind (`required: "id"`, `minimum: "1"`, ...), and
 *   `format: url` (not a 2020-12 format; the validator's check for it
 *   backtracks exponentially on a hostile string: use `uri`);
 * - a `$ref` loop that reaches itself without going into a property or an
 *   item (validating would never end);
 * - a `pattern` (or `patternProperties` key) that is not a unicode-mode
 *   regular expression, or whose backtracking could be costly: JSON Schema
 *   patterns search the string, and the validator runs them on the gate's
 *   thread, so each must pass the inline budget of `src/_util/regex_cost.ts`
 *   (start it with `^` and bound its repetitions);
 * - more than {@linkcode MAX_INPUT_SCHEMA_NODES} subschemas, or nesting deeper
 *   than {@linkcode MAX_INPUT_SCHEMA_DEPTH};
 * - an `x-mcp-header` anywhere but on a top-level property (`mcp_header.ts`).
 *
 * @module
 */

import { z } from "zod";
import { INLINE_BUDGET, patternCost } from "../_util/regex_cost.ts";
import type { Located, PathSegment, YamlSource } from "./_yaml.ts";
import { quote } from "./_path.ts";
import { suggest } from "../_util/suggest.ts";
import { DEFAULT_STRING_MAX_LENGTH } from "./param_rules.ts";
import {
  MCP_HEADER_KEYWORD,
  mcpHeaderNameProblem,
  mcpHeaderNames,
  mcpHeaderTypeProblem,
} from "./mcp_header.ts";
import type { InputSchemaSpec } from "./types.ts";
import {
  ANY_VALUE,
  BOOLEANS,
  COUNTS,
  INPUT_SCHEMA_KEYWORDS,
  isMapping,
  KNOWN,
  NUMBERS,
  REFUSED,
  SCHEMA_ARRAYS,
  SCHEMA_MAPS,
  SCHEMA_VALUED,
  STRINGS,
  TYPE_NAMES,
} from "./_input_keywords.ts";
import { checkReferences, type ErrorAt } from "./_input_refs.ts";

export { INPUT_SCHEMA_KEYWORDS };

/** The one dialect accepted in `$schema` (a trailing `#` is accepted too). */
export const JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema";
/** Subschemas (objects and booleans) one input schema may hold. */
export const MAX_INPUT_SCHEMA_NODES = 2_000;
/** How deep subschemas may nest. */
export const MAX_INPUT_SCHEMA_DEPTH = 32;
/** The largest string an input schema may admit (`maxLength`), in code points. */
export const MAX_INPUT_STRING_LENGTH = 1_000_000;

/** The `input_schema` key of an exposed tool (its rules are load-time checks). */
export const ToolInputSchema = z.record(z.string(), z.unknown(), {
  error: "Expected a mapping (a JSON Schema object)",
}).optional().meta({
  description: "The arguments as a JSON Schema 2020-12 object schema, instead of parameters: " +
    "listed as inputSchema exactly as written and enforced on every call. Defaults are not " +
    "applied. Only local $ref (#...)",
});

const ANCHOR = /^[A-Za-z_][A-Za-z0-9._-]*$/;

/**
 * Whether JSON Schema `pattern` (an unanchored search) is cheap enough for the
 * gate's thread on strings of at most `maxLength` code points. A pattern that
 * starts with `^` (and has no `|` that could escape it) is tried from the
 * first position only, so the estimate of `src/_util/regex_cost.ts` bounds it;
 * any other is tried from every position: `maxLength` times one attempt (the
 * estimate without its `maxLength` steps for failed start positions).
 *
 * @param pattern a valid unicode-mode regular expression
 * @param maxLength the longest string it will be tested on
 * @returns true when its worst case fits the inline budget
 */
export function isInlineSearch(pattern: string, maxLength: number): boolean {
  const cost = patternCost(pattern, maxLength);
  if (!Number.isFinite(cost)) return false;
  if (pattern.startsWith("^") && !pattern.includes("|")) return cost <= INLINE_BUDGET;
  return maxLength * Math.max(1, cost - maxLength) <= INLINE_BUDGET;
}

/**
 * The longest string the gate admits for a tool with this schema: 10,000 code
 * points, or the largest `maxLength` the schema declares when larger (at most
 * 1,000,000).
 */
export function inputSchemaStringCap(schema: InputSchemaSpec): number {
  let largest = DEFAULT_STRING_MAX_LENGTH;
  let visited = 0;
  const visit = (node: unknown, depth: number): void => {
    if (depth > MAX_INPUT_SCHEMA_DEPTH + 1 || ++visited > MAX_INPUT_SCHEMA_NODES * 4) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item, depth + 1);
    } else if (isMapping(node)) {
      const max = node.maxLength;
      if (typeof max === "number" && Number.isInteger(max) && max > largest) largest = max;
      for (const [key, value] of Object.entries(node)) {
        if (!ANY_VALUE.has(key) && key !== "enum" && key !== "examples") visit(value, depth + 1);
      }
    }
  };
  visit(schema, 0);
  return Math.min(largest, MAX_INPUT_STRING_LENGTH);
}

/**
 * The top-level properties of an input schema, for the bridge's templates and
 * escalation rules: each name with its declared `type` (when it is one
 * string) and whether the top-level `required` lists it.
 */
export function inputSchemaParams(
  schema: InputSchemaSpec,
): Map<string, { type: string | undefined; required: boolean }> {
  const out = new Map<string, { type: string | undefined; required: boolean }>();
  const properties = isMapping(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required : [];
  for (const [name, property] of Object.entries(properties)) {
    const type = isMapping(property) && typeof property.type === "string"
      ? property.type
      : undefined;
    out.set(name, { type, required: required.includes(name) });
  }
  return out;
}

// --- load-time checks -------------------------------------------------------

/**
 * Every rule of an input schema the shape alone cannot say (see the module
 * doc), positioned.
 *
 * @param schema the `input_schema` mapping as parsed
 * @param path where it is in the document
 * @param source positions
 * @returns the problems
 */
export function inputSchemaProblems(
  schema: Record<string, unknown>,
  path: readonly PathSegment[],
  source: YamlSource,
): Located[] {
  const problems: Located[] = [];
  const error = (at: readonly PathSegment[], message: string, key = false) =>
    problems.push(source.at(at, message, key));
  if (schema.type !== "object") {
    error(
      schema.type === undefined ? path : [...path, "type"],
      'Input schema must have type "object" at the top level: tool arguments are an object',
      schema.type === undefined,
    );
  }
  if (schema.$schema !== undefined && !isDialect(schema.$schema)) {
    error(
      [...path, "$schema"],
      `Unsupported JSON Schema dialect ${JSON.stringify(schema.$schema)}: only ` +
        `${quote(JSON_SCHEMA_2020_12)} is supported`,
    );
  }
  const walk = new ShapeWalk(error, inputSchemaStringCap(schema));
  walk.node(schema, [...path], 0, true);
  checkHeaders(schema, path, error);
  if (problems.length === 0) checkReferences(schema, path, error);
  return problems;
}

function isDialect(value: unknown): boolean {
  return value === JSON_SCHEMA_2020_12 || value === `${JSON_SCHEMA_2020_12}#`;
}

class ShapeWalk {
  #nodes = 0;
  #anchors = new Set<string>();
  constructor(readonly error: ErrorAt, readonly stringCap: number) {}

  node(value: unknown, path: PathSegment[], depth: number, root = false): void {
    if (typeof value === "boolean") return;
    if (!isMapping(value)) {
      this.error(path, "Expected a schema: a mapping, true or false");
      return;
    }
    if (++this.#nodes > MAX_INPUT_SCHEMA_NODES) {
      if (this.#nodes === MAX_INPUT_SCHEMA_NODES + 1) {
        this.error(path, `Input schema holds more than ${MAX_INPUT_SCHEMA_NODES} subschemas`);
      }
      return;
    }
    if (depth > MAX_INPUT_SCHEMA_DEPTH) {
      this.error(path, `Input schema nests deeper than ${MAX_INPUT_SCHEMA_DEPTH} levels`);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      this.#keyword(key, item, [...path, key], depth, root);
    }
  }

  #keyword(key: string, value: unknown, at: PathSegment[], depth: number, root: boolean): void {
    const expect = (ok: boolean, what: string) => {
      if (!ok) this.error(at, `Keyword ${quote(key)} must be ${what}`);
      return ok;
    };
    if (key.startsWith("x-")) {
      if (key === MCP_HEADER_KEYWORD && !isTopProperty(at)) {
        this.error(
          at,
          `${MCP_HEADER_KEYWORD} applies only to a top-level property (under the top-level ` +
            '"properties"), never inside items, composition or nested objects',
          true,
        );
      }
      return;
    }
    if (Object.hasOwn(REFUSED, key)) {
      this.error(at, REFUSED[key], true);
    } else if (!KNOWN.has(key)) {
      const near = suggest(key, INPUT_SCHEMA_KEYWORDS);
      this.error(
        at,
        `Unknown JSON Schema keyword ${quote(key)}${
          near === undefined ? "" : `: did you mean ${quote(near)}?`
        } (extensions start with "x-")`,
        true,
      );
    } else if (key === "$schema") {
      if (!root) {
        this.error(at, "$schema is allowed only at the top level of the input schema", true);
      }
    } else if (SCHEMA_VALUED.has(key)) {
      this.node(value, at, depth + 1);
    } else if (SCHEMA_ARRAYS.has(key)) {
      if (expect(Array.isArray(value) && value.length > 0, "a non-empty list of schemas")) {
        (value as unknown[]).forEach((item, i) => this.node(item, [...at, i], depth + 1));
      }
    } else if (SCHEMA_MAPS.has(key)) {
      if (expect(isMapping(value), "a mapping of schemas")) {
        for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
          if (key === "patternProperties") this.#pattern(name, [...at, name], true);
          this.node(item, [...at, name], depth + 1);
        }
      }
    } else if (STRINGS.has(key)) {
      if (!expect(typeof value === "string", "a string")) return;
      const text = value as string;
      if (key === "$ref" && !text.startsWith("#")) {
        this.error(
          at,
          `Reference ${JSON.stringify(text)} is not local: only references within this ` +
            'schema ("#/$defs/name", "#anchor") are allowed; LOOM never fetches a schema',
        );
      } else if (key === "$anchor") {
        if (!ANCHOR.test(text)) this.error(at, `Anchor ${quote(text)} is not a plain name`);
        else if (this.#anchors.has(text)) this.error(at, `Duplicate $anchor ${quote(text)}`);
        this.#anchors.add(text);
      } else if (key === "pattern") {
        this.#pattern(text, at, false);
      } else if (key === "format" && text === "url") {
        // Not a JSON Schema format; the validator's check for it backtracks exponentially.
        this.error(at, 'Format "url" is not a JSON Schema 2020-12 format: use "uri"');
      }
    } else if (NUMBERS.has(key)) {
      if (expect(typeof value === "number" && Number.isFinite(value), "a number")) {
        if (key === "multipleOf" && (value as number) <= 0) {
          this.error(at, 'Keyword "multipleOf" must be greater than 0');
        }
      }
    } else if (COUNTS.has(key)) {
      expect(
        typeof value === "number" && Number.isSafeInteger(value) && value >= 0 &&
          (key !== "maxLength" || value <= MAX_INPUT_STRING_LENGTH),
        key === "maxLength"
          ? `an integer from 0 to ${MAX_INPUT_STRING_LENGTH}`
          : "a non-negative integer",
      );
    } else if (BOOLEANS.has(key)) {
      expect(typeof value === "boolean", "true or false");
    } else if (key === "type") {
      const names = Array.isArray(value) ? value : [value];
      expect(
        names.length > 0 && names.every((n) => TYPE_NAMES.includes(n as string)) &&
          new Set(names).size === names.length,
        `a type (${TYPE_NAMES.join(", ")}) or a list of distinct types`,
      );
    } else if (key === "required") {
      expect(isNameList(value), "a list of distinct property names");
    } else if (key === "dependentRequired") {
      expect(
        isMapping(value) && Object.values(value).every(isNameList),
        "a mapping of property name -> list of distinct property names",
      );
    } else if (key === "enum" || key === "examples") {
      expect(Array.isArray(value), "a list");
    }
  }

  #pattern(pattern: string, at: PathSegment[], key: boolean): void {
    try {
      new RegExp(pattern, "u");
    } catch {
      this.error(at, "Pattern is not a valid regular expression (ECMAScript, unicode mode)", key);
      return;
    }
    if (!isInlineSearch(pattern, this.stringCap)) {
      this.error(
        at,
        `Pattern may backtrack heavily on a ${this.stringCap}-character string: input schema ` +
          'patterns run on the gate\'s thread, so start it with "^" (JSON Schema patterns ' +
          'search the whole string), bound repetitions ("{1,64}"), do not nest them, and ' +
          "avoid lookarounds and backreferences",
        key,
      );
    }
  }
}

function isNameList(value: unknown): boolean {
  return Array.isArray(value) && value.every((n) => typeof n === "string") &&
    new Set(value).size === value.length;
}

/** Is `at` (ending in the keyword) the keyword of a top-level property's schema? */
function isTopProperty(at: readonly PathSegment[]): boolean {
  const i = at.lastIndexOf("input_schema");
  return i >= 0 && at.length === i + 4 && at[i + 1] === "properties";
}

function checkHeaders(
  schema: Record<string, unknown>,
  path: readonly PathSegment[],
  error: ErrorAt,
) {
  if (!isMapping(schema.properties)) return;
  const seen = mcpHeaderNames();
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!isMapping(property) || !Object.hasOwn(property, MCP_HEADER_KEYWORD)) continue;
    const at = [...path, "properties", name, MCP_HEADER_KEYWORD];
    const header = property[MCP_HEADER_KEYWORD];
    const problem = mcpHeaderNameProblem(header) ??
      mcpHeaderTypeProblem(property.type);
    if (problem !== undefined) {
      error(at, `${MCP_HEADER_KEYWORD} of property ${quote(name)} ${problem}`);
      continue;
    }
    const duplicate = seen(header as string);
    if (duplicate !== undefined) error(at, duplicate);
  }
}
