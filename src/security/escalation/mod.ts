/**
 * Escalation rules: the decision whether a call is held for human review.
 * The first matching rule of a config's `escalation_rules` holds a call, and
 * every write call of a tier 4 agent is held. The gate refuses a held call
 * (approvals are not available yet) and records the rule that held it.
 *
 * @example
 * ```ts
 * import { compileEscalation, decideEscalation } from "./mod.ts";
 * const policy = compileEscalation([]);
 * decideEscalation(policy, { tier: 4, tool: "delete_item", access: "write", args: {} });
 * // { hold: true, rule: "trust_tier_4", reason: "...", by: "trust_tier" }
 * decideEscalation(policy, { tier: 2, tool: "delete_item", access: "write", args: {} });
 * // { hold: false }
 * ```
 *
 * @module
 */

export {
  type CompiledEscalationRule,
  compileEscalation,
  decideEscalation,
  type EscalationCall,
  type EscalationDecision,
  EscalationPolicy,
  TIER_4_RULE,
} from "./decide_escalation.ts";
