/**
 * Step 5, escalation: a call that an `escalation_rules` entry matches, and
 * every write call of a tier 4 agent, is held for review. Approvals are not
 * available yet, so a held call is refused ("held for review") with one
 * `held` outcome naming the rule; it never runs. Held calls come after the
 * rate limit, so one record each is bounded by it.
 *
 * @module
 */

import { decideEscalation } from "../../security/escalation/mod.ts";
import type { InjectionFinding } from "../../security/validate/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { findingsFields } from "./06_intent.ts";
import { recordOutcome } from "./10_outcome.ts";

/**
 * Decide whether the call is held.
 *
 * @returns null when it may run, else the `held` answer (recorded)
 */
export function holdForReview(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
  input: Record<string, unknown>,
  findings: readonly InjectionFinding[],
): Promise<CallToolResult> | null {
  if (entry.escalation === null) return null;
  const decision = decideEscalation(entry.escalation, {
    tier: parts.config.runtime.trustTier,
    tool: call.tool,
    access: entry.tool.access,
    args: input,
  });
  if (!decision.hold) return null;
  const message = `Call held for review by rule "${decision.rule}": approvals are not ` +
    "available in this version yet, so the call was not run";
  return recordOutcome(parts, call, "held", toolError(message), {
    error: message,
    rule: decision.rule,
    reason: decision.reason,
    held_by: decision.by,
    ...findingsFields(findings),
  });
}
