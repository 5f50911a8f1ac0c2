/**
 * Tool argument validation and injection screening (`docs/security-controls.md` §1, gate step 2).
 *
 * Rules, in the order they are applied to each value:
 *
 * 1. The arguments must be a plain JSON object (`undefined` / `null` mean `{}`).
 * 2. An undeclared argument or property is refused (its name is shown only when
 *    it is a plain identifier, so raw input never reaches a message).
 * 3. A missing (or `null`) required value is refused; an absent optional one
 *    takes its `default`, if any.
 * 4. Types: `integer` / `number` accept numbers and decimal numeric strings
 *    (`"42"`, `"-1.5e3"`; not hex, not blank, not `Infinity`); an integer must be
 *    a safe integer. `boolean` accepts `true` / `false` and the strings
 *    `"true"` / `"false"`. `string` accepts a number or boolean as its
 *    canonical text (`String(value)`: JSON-typed clients send `1796395230`
 *    for a string parameter); the text is then checked like any string.
 *    Nothing else is coerced.
 * 5. The parameter's value rules, the same functions the loader applies to
 *    `default` and `enum` values (`src/config/param_rules.ts`): `enum` (after
 *    coercion), string length in Unicode code points (10,000 when no
 *    `maxLength` is declared), `minimum` / `maximum`, `pattern` (whole-string
 *    match, see `_pattern.ts`; a pattern that is not inline-safe is left
 *    `pending`, for {@linkcode settlePatterns} to test off the thread), array
 *    length (at most 1,000 items); and nesting (a top-level argument is level 1;
 *    at most 8 levels).
 * 6. Every string (nested ones and free-form object keys too) is screened by
 *    {@linkcode detectInjection}, unless the mode is `off`, the category is in
 *    the parameter's (or an enclosing parameter's) `allow` list, or the value
 *    matched the parameter's `enum` (config-authored text).
 *
 * An `object` with no declared `properties`, or an `array` with no `items`, is
 * free-form JSON: any JSON values, bounded by the same depth, size and length
 * limits and screened in the same way.
 *
 * @module
 */

import {
  arrayLengthProblem,
  enumProblem,
  type InjectionCategory,
  type InjectionMode,
  numberProblem,
  type ParamSpec,
  patternProblem,
  stringProblem,
  type ToolSpec,
  TYPE_PROBLEM,
} from "../../config/mod.ts";
import { InputError } from "../../errors.ts";
import type { InjectionFinding } from "./injection.ts";
import { MAX_DEPTH } from "./_limits.ts";
import { patternPlan } from "./_pattern.ts";
import type { PatternVerdict, PatternWorker } from "./pattern_worker.ts";
import {
  checkJson,
  isPlainObject,
  isSafeName,
  join,
  type PendingPatterns,
  Refusal,
  refuse,
  setOwn,
  Walk,
} from "./_walk.ts";

export type { PendingPatterns };

/** Options of {@linkcode validateArguments}. */
export interface ValidateArgumentsOptions {
  /** `block` refuses a call with a finding, `audit` reports it, `off` skips screening. */
  injection: InjectionMode;
}

/**
 * The result of {@linkcode validateArguments}: a value the gate branches on.
 * `pending` is present only when some string must still be tested against a
 * pattern off the gate's thread; the call is valid only after
 * {@linkcode settlePatterns} says so.
 */
export type ValidationOutcome =
  | {
    ok: true;
    value: Record<string, unknown>;
    findings: InjectionFinding[];
    pending?: PendingPatterns;
  }
  | { ok: false; error: InputError; findings: InjectionFinding[] };

/**
 * Validate and normalise a tool call's arguments against the tool's declared
 * parameters, and screen every string for injection.
 *
 * @param tool the resolved tool spec
 * @param args the `arguments` of an MCP `tools/call` request
 * @param options the injection mode (`runtime.injection`)
 * @returns `{ ok: true, value }` with coerced values and defaults applied, or
 * `{ ok: false, error }` naming the first offending field; `findings` lists the
 * injection rules that matched (at most 50)
 *
 * @example
 * ```ts
 * import { validateArguments } from "./validate_arguments.ts";
 * const tool = {
 *   name: "get_user",
 *   description: "Fetch a user",
 *   access: "read" as const,
 *   parameters: { id: { type: "integer" as const, required: true, allow: [] } },
 * };
 * validateArguments(tool, { id: "42" }, { injection: "block" });
 * // { ok: true, value: { id: 42 }, findings: [] }
 * ```
 */
export function validateArguments(
  tool: ToolSpec,
  args: unknown,
  options: ValidateArgumentsOptions,
): ValidationOutcome {
  const walk = new Walk(options.injection);
  try {
    const input = args === undefined || args === null ? {} : args;
    if (!isPlainObject(input)) refuse("", "Arguments must be a JSON object");
    const value = checkProperties(tool.parameters, input, "", 0, [], walk);
    if (walk.pending !== undefined) {
      return { ok: true, value, findings: walk.findings, pending: walk.pending };
    }
    return { ok: true, value, findings: walk.findings };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, error: e.error, findings: walk.findings };
    throw e;
  }
}

/**
 * Finish a validation whose outcome has `pending` pattern checks: test them on
 * `worker`, off the gate's thread, within its deadline. A string that does not
 * match is refused as {@linkcode validateArguments} refuses it inline; one
 * whose check ran past the deadline is refused as taking too long to check,
 * and one that could not be checked (the engine threw, the worker is closed)
 * is refused too: the call fails closed.
 *
 * @param outcome a successful outcome with `pending` checks
 * @param worker the gate's pattern worker
 * @returns the outcome without `pending`, or a refusal naming the field
 */
export async function settlePatterns(
  outcome: ValidationOutcome & { ok: true },
  worker: PatternWorker,
): Promise<ValidationOutcome> {
  const { value, findings, pending } = outcome;
  if (pending === undefined) return outcome;
  let verdict: PatternVerdict;
  try {
    verdict = await worker.check(pending.checks);
  } catch {
    // The worker is closed or failed: the strings were not checked, so the call fails closed.
    verdict = { ok: false, index: 0, reason: "failed" };
  }
  if (verdict.ok) return { ok: true, value, findings };
  const field = pending.fields[verdict.index];
  const message = verdict.reason === "timeout"
    ? "took too long to check against its pattern"
    : verdict.reason === "failed"
    ? "could not be checked against its pattern"
    : `must match the pattern ${JSON.stringify(pending.patterns[verdict.index])}`;
  return { ok: false, error: new InputError(field, message), findings };
}

function checkProperties(
  declared: Readonly<Record<string, ParamSpec>>,
  input: Record<string, unknown>,
  path: string,
  depth: number,
  inherited: readonly InjectionCategory[],
  walk: Walk,
): Record<string, unknown> {
  const keys = Object.keys(input);
  for (let i = 0; i < keys.length; i++) {
    if (Object.hasOwn(declared, keys[i])) continue;
    if (isSafeName(keys[i])) refuse(join(path, keys[i]), "is not declared");
    refuse(
      path,
      path === ""
        ? "Arguments include an undeclared name that is not a plain identifier"
        : "has an undeclared property whose name is not a plain identifier",
    );
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const field = join(path, name);
    const raw = Object.hasOwn(input, name) ? input[name] : undefined;
    if (raw === undefined || raw === null) {
      if (spec.required) refuse(field, "is required");
      if (spec.default !== undefined) setOwn(out, name, structuredClone(spec.default));
      continue;
    }
    setOwn(out, name, checkValue(spec, raw, field, depth + 1, inherited, walk));
  }
  return out;
}

function checkValue(
  spec: ParamSpec,
  raw: unknown,
  field: string,
  depth: number,
  inherited: readonly InjectionCategory[],
  walk: Walk,
): unknown {
  if (depth > MAX_DEPTH) refuse(field, `nests deeper than ${MAX_DEPTH} levels`);
  walk.visit(field);
  const allow = spec.allow.length === 0 ? inherited : [...inherited, ...spec.allow];
  switch (spec.type) {
    case "string": {
      const text = toText(raw);
      if (text === undefined) refuse(field, TYPE_PROBLEM.string);
      const problem = stringProblem(spec, text);
      if (problem !== undefined) refuse(field, problem);
      if (spec.pattern !== undefined) {
        const plan = patternPlan(spec);
        if (!plan.inline) walk.defer(plan, spec.pattern, text, field);
        else if (!plan.re.test(text)) refuse(field, patternProblem(spec.pattern));
      }
      if (!checkEnum(text, spec, field)) walk.screen(text, field, allow);
      return text;
    }
    case "integer":
    case "number": {
      const n = toNumber(raw);
      if (n === undefined) refuse(field, TYPE_PROBLEM[spec.type]);
      const problem = numberProblem(spec, n);
      if (problem !== undefined) refuse(field, problem);
      checkEnum(n, spec, field);
      return n;
    }
    case "boolean": {
      const b = raw === true || raw === "true"
        ? true
        : raw === false || raw === "false"
        ? false
        : undefined;
      if (b === undefined) refuse(field, TYPE_PROBLEM.boolean);
      checkEnum(b, spec, field);
      return b;
    }
    case "array": {
      if (!Array.isArray(raw)) refuse(field, TYPE_PROBLEM.array);
      const problem = arrayLengthProblem(spec, raw.length);
      if (problem !== undefined) refuse(field, problem);
      const out: unknown[] = [];
      for (let i = 0; i < raw.length; i++) {
        const at = `${field}[${i}]`;
        out.push(
          spec.items === undefined
            ? checkJson(raw[i], at, depth + 1, allow, walk)
            : checkValue(spec.items, raw[i], at, depth + 1, allow, walk),
        );
      }
      checkEnum(out, spec, field);
      return out;
    }
    case "object": {
      if (!isPlainObject(raw)) refuse(field, TYPE_PROBLEM.object);
      const out = spec.properties === undefined
        ? checkJson(raw, field, depth, allow, walk, true)
        : checkProperties(spec.properties, raw, field, depth, allow, walk);
      checkEnum(out, spec, field);
      return out;
    }
    default:
      throw new TypeError(`Cannot validate a parameter of unknown type "${String(spec.type)}"`);
  }
}

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A finite number from a number or a decimal numeric string, else undefined. */
/**
 * A string value: a string as it is, a number or boolean as its canonical
 * text (`String()`: `1796395230`, `-1.5`, `true`), since JSON-typed clients
 * send those for string parameters; anything else is not a string.
 */
function toText(raw: unknown): string | undefined {
  if (typeof raw === "string") return raw;
  if (typeof raw === "number" && Number.isFinite(raw)) return String(raw);
  if (typeof raw === "boolean") return String(raw);
  return undefined;
}

function toNumber(raw: unknown): number | undefined {
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === "string" && raw.length <= 64 && NUMERIC.test(raw)) {
    const n = Number(raw);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * Check `value` against the parameter's enum.
 * @returns true when an enum is declared and matched, false when none is declared
 */
function checkEnum(value: unknown, spec: ParamSpec, field: string): boolean {
  if (spec.enum === undefined || spec.enum.length === 0) return false;
  const problem = enumProblem(spec, value);
  if (problem !== undefined) refuse(field, problem);
  return true;
}
