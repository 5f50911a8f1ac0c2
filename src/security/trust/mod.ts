/**
 * Trust tiers: what an agent of tier 1 (observer) to 4 (privileged) may do
 * (`docs/security-controls.md` §1, gate step 3). Pure decisions, returned as values; the gate
 * audits a refusal as `trust_violation` with the decision's `action`.
 *
 * @example
 * ```ts
 * import { allowedMethods, decideTier, requiresApproval, TIER_NAMES } from "./mod.ts";
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
