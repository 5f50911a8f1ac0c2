/**
 * Trust tiers: what an agent of tier 1 (observer) to 4 (privileged) may do
 * (`docs/security-controls.md` §1, gate step 3), and what an OAuth caller's scopes let it
 * call (`scopes.ts`). Pure decisions, returned as values; the gate audits a refusal as
 * `trust_violation` with the decision's `action`.
 *
 * @example
 * ```ts
 * import {
 *   allowedMethods,
 *   decideScope,
 *   decideTier,
 *   LOOM_SCOPES,
 *   requiresApproval,
 *   scopeAllows,
 *   TIER_NAMES,
 * } from "./mod.ts";
 *
 * const ok = decideTier({ tier: 2, access: "write", method: "POST" });
 * if (!ok.allow) throw new Error("tier 2 may POST");
 *
 * const sneaky = decideTier({
 *   tier: 1,
 *   access: "read",
 *   method: "GET",
 *   headers: [["X-HTTP-Method-Override", "DELETE"]],
 * });
 * if (sneaky.allow || sneaky.action !== "method_override") throw new Error("must refuse");
 *
 * allowedMethods(3); // ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
 * requiresApproval(4, "write"); // true
 * TIER_NAMES[1]; // "observer"
 *
 * const scoped = decideScope("delete_item", "write", new Set([LOOM_SCOPES.read]));
 * if (scoped.allow || scoped.scope !== "loom:write") throw new Error("must refuse");
 * scopeAllows("read", new Set([LOOM_SCOPES.write])); // true: write implies read
 * ```
 *
 * @module
 */

export {
  allowedMethods,
  allowsAgentCalls,
  decideTier,
  METHOD_OVERRIDE_HEADERS,
  requiresApproval,
  TIER_NAMES,
  type TierDecision,
  type TierRequest,
} from "./decide_tier.ts";
export {
  decideScope,
  LOOM_SCOPES,
  requiredScope,
  scopeAllows,
  type ScopeDecision,
} from "./scopes.ts";
