/**
 * Parameter `pattern` handling (private to validate/).
 *
 * A pattern must match the whole string: LOOM anchors it as `^(?:pattern)$`
 * (`anchorPattern()`, the config's rule) and compiles it in unicode mode. Authors may anchor it themselves; the
 * result is the same. The anchored form is what `inputSchema` publishes, so a
 * client-side JSON Schema validator and LOOM agree (JSON Schema's `pattern`
 * is otherwise unanchored).
 *
 * Each pattern is also classified once (`src/_util/regex_cost.ts`): inline-safe ones
 * are tested on the gate's thread, every other one off it, in a worker with a
 * deadline (`pattern_worker.ts`).
 *
 * @module
 */

import { anchorPattern, type ParamSpec, stringMaxLength } from "../../config/mod.ts";
import { isInlinePattern } from "../../_util/regex_cost.ts";

export { anchorPattern };

/** A parameter's compiled pattern and whether it may be tested inline. */
export interface PatternPlan {
  /** The anchored, unicode-mode pattern. */
  re: RegExp;
  /**
   * Whether its estimated worst case for a string of the parameter's maximum
   * length is within the inline budget (`src/_util/regex_cost.ts`); if not, it is
   * tested off the gate's thread.
   */
  inline: boolean;
}

const PLANS = new WeakMap<ParamSpec, PatternPlan>();

/**
 * The compiled pattern of a parameter and its inline classification, made
 * once per ParamSpec.
 *
 * @throws {TypeError} when there is no pattern, or it is not a valid unicode-mode regular
 * expression (the config loader should have refused it)
 */
export function patternPlan(spec: ParamSpec): PatternPlan {
  let plan = PLANS.get(spec);
  if (plan === undefined) {
    if (spec.pattern === undefined) throw new TypeError("Cannot compile a missing pattern");
    let re: RegExp;
    try {
      re = new RegExp(anchorPattern(spec.pattern), "u");
    } catch (cause) {
      throw new TypeError(`Cannot compile pattern ${JSON.stringify(spec.pattern)}`, { cause });
    }
    const inline = isInlinePattern(spec.pattern, stringMaxLength(spec));
    plan = { re, inline };
    PLANS.set(spec, plan);
  }
  return plan;
}

/**
 * The compiled, anchored pattern of a parameter, compiled once per ParamSpec.
 *
 * @throws {TypeError} when there is no pattern, or it is not a valid unicode-mode regular
 * expression (the config loader should have refused it)
 */
export function compiledPattern(spec: ParamSpec): RegExp {
  return patternPlan(spec).re;
}

/** Whether the parameter's pattern may be tested on the gate's thread (see {@linkcode patternPlan}). */
export function isInline(spec: ParamSpec): boolean {
  return patternPlan(spec).inline;
}
