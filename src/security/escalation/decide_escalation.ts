/**
 * Escalation: which calls must wait for a person before they run. A config's
 * `escalation_rules` name risky calls (a tool glob, an access mode, conditions
 * on arguments); the first rule that matches holds the call. Independently of
 * the rules, every write call of a tier 4 (privileged) agent is held.
 *
 * This module only decides; it has no state and no I/O, so every caller asks
 * the same question and gets the same answer (the gate holds the call until
 * an approval of that exact call exists; see `src/runtime/gate/05_escalation.ts`). Rules are compiled once, when the
 * gate is built: globs become regular expressions, `param_contains` needles
 * are lower-cased, and each tool keeps only the rules that can match it, so a
 * call of a tool no rule names costs one length check.
 *
 * Matching, per rule (every given condition must hold):
 * - `tool`: a glob over the tool name (`*` any run, `?` one character);
 *   null matches any tool;
 * - `access`: the tool's access mode; null matches both;
 * - `param_gt`: the argument is a number greater than the value;
 * - `param_eq`: the argument equals the string (a number or boolean argument
 *   is compared in its JSON form, so `"true"` matches `true`);
 * - `param_contains`: the argument's text contains the string, ignoring case
 *   (a string as it is, any other value in its JSON form).
 *
 * Conditions look at the arguments after validation (types coerced, defaults
 * applied), so a default value can trigger a rule. A missing argument never
 * satisfies a condition. `param_eq` is exact on purpose: it is meant for
 * enumerated values; give the parameter an `enum` so that no variant spelling
 * can pass. `param_contains` ignores case because free text is where a
 * variant spelling would otherwise slip past. Neither is an injection filter.
 *
 * @module
 */

import type { AccessMode, EscalationRuleSpec, TrustTier } from "../../config/mod.ts";
import { toolGlobRegExp } from "../../config/mod.ts";
import { requiresApproval } from "../trust/mod.ts";

/** What {@linkcode decideEscalation} is asked about: one validated call. */
export interface EscalationCall {
  /** The agent's trust tier. */
  tier: TrustTier;
  /** The tool name. */
  tool: string;
  /** The tool's access mode. */
  access: AccessMode;
  /** The validated arguments (types coerced, defaults applied). */
  args: Readonly<Record<string, unknown>>;
}

/**
 * The decision. A hold names what caused it: a rule of the config
 * (`by: "escalation_rule"`, `rule` is its name) or the trust tier
 * (`by: "trust_tier"`, `rule` is {@linkcode TIER_4_RULE}).
 */
export type EscalationDecision =
  | { hold: false }
  | { hold: true; rule: string; reason: string; by: "escalation_rule" | "trust_tier" };

/** The rule name a tier 4 write hold carries. */
export const TIER_4_RULE = "trust_tier_4";

const TIER_4_REASON = "Write calls of a tier 4 (privileged) agent need human approval";
const NO_HOLD: EscalationDecision = Object.freeze({ hold: false });

/** One compiled rule: what {@linkcode decideEscalation} checks. */
export interface CompiledEscalationRule {
  /** The rule's name. */
  readonly name: string;
  /** Why it holds calls (shown to the reviewer). */
  readonly reason: string;
  /** The tool glob as an anchored expression, or null for any tool. */
  readonly tool: RegExp | null;
  /** The access mode it applies to, or null for both. */
  readonly access: AccessMode | null;
  /** `param_gt` entries. */
  readonly gt: readonly (readonly [string, number])[];
  /** `param_eq` entries. */
  readonly eq: readonly (readonly [string, string])[];
  /** `param_contains` entries, needles lower-cased. */
  readonly contains: readonly (readonly [string, string])[];
}

/**
 * Compiled escalation rules, in config order. Build with
 * {@linkcode compileEscalation}; narrow to one tool with
 * {@linkcode EscalationPolicy.forTool}.
 */
export class EscalationPolicy {
  /** The rules, in order (first match wins). */
  readonly rules: readonly CompiledEscalationRule[];

  /** @param rules compiled rules, in order */
  constructor(rules: readonly CompiledEscalationRule[]) {
    this.rules = Object.freeze([...rules]);
  }

  /**
   * The rules that can match calls of one tool (its name fits the glob and its
   * access mode fits), in the same order. Deciding with the result gives the
   * same answer as deciding with the whole policy for calls of that tool.
   *
   * @param tool the tool name
   * @param access the tool's access mode
   * @returns a policy holding only those rules
   */
  forTool(tool: string, access: AccessMode): EscalationPolicy {
    return new EscalationPolicy(this.rules.filter((rule) => fitsTool(rule, tool, access)));
  }
}

/**
 * Compile a config's escalation rules (globs to regular expressions,
 * `param_contains` values lower-cased).
 *
 * @param rules the rules of a loaded config, in order
 * @returns the compiled policy
 *
 * @example
 * ```ts
 * import { compileEscalation, decideEscalation } from "./decide_escalation.ts";
 * const policy = compileEscalation([{
 *   name: "big-page", reason: "Large pages need a look", tool: "search_*", access: null,
 *   paramGt: { limit: 50 }, paramEq: {}, paramContains: {},
 * }]);
 * decideEscalation(policy, { tier: 1, tool: "search_items", access: "read", args: { limit: 80 } });
 * // { hold: true, rule: "big-page", reason: "Large pages need a look", by: "escalation_rule" }
 * ```
 */
export function compileEscalation(rules: readonly EscalationRuleSpec[]): EscalationPolicy {
  return new EscalationPolicy(rules.map((rule): CompiledEscalationRule => ({
    name: rule.name,
    reason: rule.reason,
    tool: rule.tool === null ? null : toolGlobRegExp(rule.tool),
    access: rule.access,
    gt: Object.entries(rule.paramGt),
    eq: Object.entries(rule.paramEq),
    contains: Object.entries(rule.paramContains).map(([k, v]) => [k, v.toLowerCase()] as const),
  })));
}

/**
 * Decide whether a call is held for review: the first rule whose every
 * condition holds wins; otherwise a tier 4 write call is held; otherwise not.
 * Pure: same policy and call, same answer.
 *
 * @param policy the compiled rules (the whole config's, or one tool's)
 * @param call tier, tool, access mode and validated arguments
 * @returns `{ hold: false }`, or `{ hold: true, rule, reason, by }`
 */
export function decideEscalation(
  policy: EscalationPolicy,
  call: EscalationCall,
): EscalationDecision {
  for (const rule of policy.rules) {
    if (fitsTool(rule, call.tool, call.access) && fitsArgs(rule, call.args)) {
      return { hold: true, rule: rule.name, reason: rule.reason, by: "escalation_rule" };
    }
  }
  if (requiresApproval(call.tier, call.access)) {
    return { hold: true, rule: TIER_4_RULE, reason: TIER_4_REASON, by: "trust_tier" };
  }
  return NO_HOLD;
}

function fitsTool(rule: CompiledEscalationRule, tool: string, access: AccessMode): boolean {
  return (rule.access === null || rule.access === access) &&
    (rule.tool === null || rule.tool.test(tool));
}

function fitsArgs(rule: CompiledEscalationRule, args: Readonly<Record<string, unknown>>): boolean {
  for (const [key, limit] of rule.gt) {
    const value = own(args, key);
    if (typeof value !== "number" || !(value > limit)) return false;
  }
  for (const [key, expected] of rule.eq) {
    const value = own(args, key);
    if (typeof value === "string") {
      if (value !== expected) return false;
    } else if (typeof value === "number" || typeof value === "boolean") {
      if (JSON.stringify(value) !== expected) return false;
    } else {
      return false;
    }
  }
  for (const [key, needle] of rule.contains) {
    const value = own(args, key);
    if (value === undefined) return false;
    const text = typeof value === "string" ? value : JSON.stringify(value) ?? "";
    if (!text.toLowerCase().includes(needle)) return false;
  }
  return true;
}

/** An own argument (never one inherited from `Object.prototype`). */
function own(args: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(args, key) ? args[key] : undefined;
}
