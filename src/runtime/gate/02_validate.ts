/**
 * Step 2, validate: the arguments against the tool's declared parameters
 * (types, lengths, ranges, patterns, no undeclared names), or against its
 * `input_schema` by the JSON Schema 2020-12 validator compiled when the gate
 * was built (`validateSchemaArguments()`), and every string through
 * injection detection either way. An invalid call is refused as `invalid`; a
 * call with injection findings is refused as a `trust_violation` under
 * `injection: block` (the default), and goes on under `injection: audit`
 * with its findings recorded beside its intent (step 6).
 *
 * Only a call with a string for a pattern that is not inline-safe awaits
 * here: that match runs in a worker, within a deadline, so a pattern with
 * catastrophic backtracking cannot stall the gate.
 *
 * @module
 */

import {
  settlePatterns,
  validateArguments,
  validateSchemaArguments,
  type ValidationOutcome,
} from "../../security/validate/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { deny, refuse } from "./refuse.ts";

/** A call's arguments, checked. */
export type CheckedArguments = ValidationOutcome;

/**
 * Validate a call's arguments.
 *
 * @returns the outcome; a promise only when a pattern must be tested off this thread
 */
export function checkArguments(
  parts: GateParts,
  entry: ToolEntry,
  args: unknown,
): CheckedArguments | Promise<CheckedArguments> {
  const options = { injection: parts.config.runtime.injection };
  if (entry.input !== null) return validateSchemaArguments(entry.input, args, options);
  const checked = validateArguments(entry.tool, args, options);
  if (checked.ok && checked.pending !== undefined) return settlePatterns(checked, parts.patterns);
  return checked;
}

/** Refuse a call whose arguments failed: an injection, or an invalid value. */
export function refuseArguments(
  parts: GateParts,
  call: GateCall,
  failed: Extract<CheckedArguments, { ok: false }>,
): Promise<CallToolResult> {
  const finding = failed.findings[0];
  const message = failed.error.message;
  if (finding) {
    return deny(parts, call, "injection", {
      action: "injection_attempt",
      detail: message,
      field: finding.field,
      category: finding.category,
      pattern: finding.pattern,
    });
  }
  return refuse(parts, call.ctx, call.tool, "invalid", (session) => ({
    event: "tool_call",
    agent: parts.config.name,
    tool: call.tool,
    call: call.id,
    phase: "outcome",
    status: "invalid",
    duration_ms: call.elapsed(),
    client: call.client,
    session,
    error: message,
    field: failed.error.field,
    ...call.parentField(),
  }), message);
}
