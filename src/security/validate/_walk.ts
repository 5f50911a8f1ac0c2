/**
 * The walk over a call's untrusted arguments that both argument validators
 * share (private to validate/): the bounds of `_limits.ts` (depth, values,
 * keys, array length), the string rules of a free-form value (well-formed
 * Unicode, a length cap), and injection screening of every string and key.
 * `validate_arguments.ts` walks declared `parameters` with it;
 * `schema_arguments.ts` walks the arguments of a tool with an `input_schema`
 * as free-form JSON before its JSON Schema validator runs.
 *
 * A refusal is thrown as a {@linkcode Refusal} to stop at the first problem,
 * and turned into a returned value by the validator; it never escapes
 * validate/.
 *
 * @module
 */

import {
  type InjectionCategory,
  type InjectionMode,
  MAX_ARRAY_ITEMS,
  type ParamSpec,
  stringProblem,
} from "../../config/mod.ts";
import { InputError } from "../../errors.ts";
import { detectInjection, type InjectionFinding } from "./injection.ts";
import { MAX_DEPTH, MAX_FINDINGS, MAX_OBJECT_KEYS, MAX_VALUES } from "./_limits.ts";
import type { PatternPlan } from "./_pattern.ts";
import type { PatternCheck } from "./pattern_worker.ts";

/**
 * Strings still to be tested against patterns that are not inline-safe (see
 * `settlePatterns()`): the checks, and each one's field and pattern.
 */
export interface PendingPatterns {
  checks: PatternCheck[];
  fields: string[];
  patterns: string[];
}

/** Thrown internally to stop at the first problem; never escapes validate/. */
export class Refusal {
  /** @param error what the caller is told */
  constructor(readonly error: InputError) {}
}

/** The rules of a string inside free-form JSON, and of a free-form object's key. */
export const FREE_FORM_STRING: ParamSpec = { type: "string", required: false, allow: [] };

/** The state of one call's walk: findings, deferred patterns, values visited. */
export class Walk {
  readonly findings: InjectionFinding[] = [];
  /** Created on the first string whose pattern is not inline-safe. */
  pending: PendingPatterns | undefined;
  #visited = 0;
  /**
   * @param mode the injection mode
   * @param freeForm the rules of a free-form string (its `maxLength`)
   */
  constructor(readonly mode: InjectionMode, readonly freeForm: ParamSpec = FREE_FORM_STRING) {}

  /** Leave a string for the pattern worker. */
  defer(plan: PatternPlan, pattern: string, text: string, field: string): void {
    this.pending ??= { checks: [], fields: [], patterns: [] };
    this.pending.checks.push({ source: plan.re.source, text });
    this.pending.fields.push(field);
    this.pending.patterns.push(pattern);
  }

  /** Count one value; refuse past {@linkcode MAX_VALUES}. */
  visit(field: string): void {
    if (++this.#visited > MAX_VALUES) {
      refuse(field, `arguments hold more than ${MAX_VALUES} values`);
    }
  }

  /** Screen one string (or key) for injection. */
  screen(value: string, field: string, allow: readonly InjectionCategory[]): void {
    if (this.mode === "off") return;
    const finding = detectInjection(value, allow, { field });
    if (finding === null) return;
    if (this.findings.length < MAX_FINDINGS) this.findings.push(finding);
    if (this.mode === "block") refuse(field, `Possible ${finding.category} injection refused`);
  }
}

/** Stop the walk with a refusal of `field`. */
export function refuse(field: string, message: string): never {
  throw new Refusal(new InputError(field, message));
}

/** A JSON object as `JSON.parse` makes it (no class instances, no arrays). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Assign an own property, even for `__proto__`. */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

const SAFE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** `path.name`, or `name` at the top. */
export function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/** The field label of an untrusted key: the key itself only when it is a plain identifier. */
export function keyLabel(path: string, key: string, index: number): string {
  return SAFE_NAME.test(key) ? join(path, key) : `${path}[#${index}]`;
}

/** Is `key` shown as itself in a field label? */
export function isSafeName(key: string): boolean {
  return SAFE_NAME.test(key);
}

/**
 * Free-form JSON (an object without `properties`, an array without `items`,
 * or every argument of a tool with an `input_schema`): bounded, copied into
 * own-property objects, every string and key screened. `counted` is true
 * when the caller already visited this value.
 */
export function checkJson(
  raw: unknown,
  field: string,
  depth: number,
  allow: readonly InjectionCategory[],
  walk: Walk,
  counted = false,
): unknown {
  if (depth > MAX_DEPTH) refuse(field, `nests deeper than ${MAX_DEPTH} levels`);
  if (!counted) walk.visit(field);
  if (raw === null || typeof raw === "boolean") return raw;
  if (typeof raw === "number") {
    if (!Number.isFinite(raw)) refuse(field, "must be a finite number");
    return raw;
  }
  if (typeof raw === "string") {
    const problem = stringProblem(walk.freeForm, raw);
    if (problem !== undefined) refuse(field, problem);
    walk.screen(raw, field, allow);
    return raw;
  }
  if (Array.isArray(raw)) {
    if (raw.length > MAX_ARRAY_ITEMS) refuse(field, `must have at most ${MAX_ARRAY_ITEMS} items`);
    const out: unknown[] = [];
    for (let i = 0; i < raw.length; i++) {
      out.push(checkJson(raw[i], `${field}[${i}]`, depth + 1, allow, walk));
    }
    return out;
  }
  if (isPlainObject(raw)) {
    const keys = Object.keys(raw);
    if (keys.length > MAX_OBJECT_KEYS) refuse(field, `must have at most ${MAX_OBJECT_KEYS} keys`);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const at = keyLabel(field, key, i);
      const problem = stringProblem(walk.freeForm, key);
      if (problem !== undefined) refuse(at, `key ${problem}`);
      walk.screen(key, at, allow);
      setOwn(out, key, checkJson(raw[key], at, depth + 1, allow, walk));
    }
    return out;
  }
  return refuse(field, "must be a JSON value");
}
