/**
 * Step 10, outcome: exactly one `outcome` record per call, durable (together
 * with the call's intent) before the client gets its answer. Every step that
 * ends a call after step 4 ends it here. Like the intent, it names the
 * OAuth caller's subject when there is one.
 *
 * When the record cannot be written, the client is told the log is
 * unavailable instead of getting the result, except for a tier 1 call that
 * already ran under `runtime.audit_failure: allow`: that one keeps its result,
 * and is counted as unrecorded (see `unrecorded.ts`).
 *
 * @module
 */

import type { CallStatus, OutcomeFields } from "../../security/audit/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";

/**
 * Record the call's outcome, durably, then answer with `result`.
 *
 * @param fields what the outcome records besides its status
 */
export async function recordOutcome(
  parts: GateParts,
  call: GateCall,
  status: CallStatus,
  result: CallToolResult,
  fields: OutcomeFields,
): Promise<CallToolResult> {
  const { audit, config, unrecorded } = parts;
  call.status = status;
  const written = audit.append({
    event: "tool_call",
    agent: config.name,
    tool: call.tool,
    call: call.id,
    phase: "outcome",
    status,
    duration_ms: call.elapsed(),
    client: call.client,
    ...call.subjectField(),
    ...call.parentField(),
    ...fields,
  });
  try {
    if (call.intent !== null) await call.intent;
    await written;
  } catch {
    written.catch(() => {});
    if (call.executed && config.runtime.trustTier < 2) {
      // A read ran with no record: counted, and reported once the log is back.
      unrecorded.count(call.tool);
      if (config.runtime.auditFailure === "allow") return result;
    }
    call.denial = "audit_unavailable";
    return toolError("Audit log unavailable: the outcome could not be recorded");
  }
  unrecorded.report();
  return result;
}
