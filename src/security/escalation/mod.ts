/**
 * Escalation rules: the decision whether a call is held for human review.
 * The first matching rule of a config's `escalation_rules` holds a call, and
 * every write call of a tier 4 agent is held. The gate keeps a held call
 * until a person approves that exact call (the approvals live in the state
 * database, `src/store/approvals.ts`); {@linkcode approvalRecord} is the
 * audit record of each change, for the gate and `loom approvals` alike.
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
export { approvalRecord } from "./approval_record.ts";
export { decideApproval, type ReviewerDecision } from "./decide_approval.ts";
export { type ApprovalState, MAX_REQUEST_STATE, RequestStateSigner } from "./request_state.ts";
