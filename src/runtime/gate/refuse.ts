/**
 * How steps 1-4 refuse a call before it runs. A refusal costs the client
 * nothing, so its records are bounded: a {@linkcode RefusalCoalescer} gives
 * a refusal its own record only within a budget per client (the MCP session,
 * or stdio), tool, kind and window, and counts the rest into
 * `refusal_summary` records. One client looping on refused calls can neither
 * fill the disk nor hide another client's refusals. An admitted record is
 * durable before the answer; if it cannot be written, the refusal is counted
 * instead and the client is told the log is unavailable. A record names the
 * OAuth caller's subject when there is one (`recordedSubject()`, `call.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type {
  PolicyRefusal,
  Refusal,
  RefusalKind,
  ToolCallOutcome,
  TrustViolationRefusal,
} from "../../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, recordedSubject, toolError } from "./call.ts";

/**
 * Refuse a call: its own record if the budget admits one, else only counted
 * for the window's summary (no I/O at all).
 *
 * @param record builds the record for the refusal's client key
 * @param message the tool error's text
 */
export async function refuse(
  parts: GateParts,
  ctx: ToolCallContext,
  tool: string | null,
  kind: RefusalKind,
  record: (session: string) => ToolCallOutcome | TrustViolationRefusal,
  message = "",
): Promise<CallToolResult> {
  const refusal: Refusal = { client: clientKey(ctx), tool, kind };
  if (parts.refusals.admit(refusal)) {
    const subject = recordedSubject(ctx);
    try {
      await parts.audit.append({
        ...record(refusal.client),
        ...(subject === null ? {} : { subject }),
      });
    } catch {
      parts.refusals.tally(refusal);
      return toolError("Audit log unavailable: the refusal could not be recorded");
    }
  }
  return toolError(message);
}

/** A refusal by policy (injection, tier, scope, rate limit) as a `trust_violation` outcome. */
export function deny(
  parts: GateParts,
  call: GateCall,
  kind: RefusalKind,
  fields: PolicyRefusal,
): Promise<CallToolResult> {
  return refuse(parts, call.ctx, call.tool, kind, (session) => ({
    event: "trust_violation",
    agent: parts.config.name,
    tool: call.tool,
    call: call.id,
    phase: "outcome",
    status: "denied",
    severity: "high",
    duration_ms: call.elapsed(),
    client: call.client,
    session,
    ...call.parentField(),
    ...fields,
  }), fields.detail);
}

/**
 * The client a refusal budget is kept for: the MCP session on HTTP, the
 * OAuth subject of a stateless (2026-07-28) request, else the one
 * connection on stdio (and every other stateless caller, together). Session
 * ids let whoever knows them post into the session, so only a short hash of
 * one is recorded, and likewise of a subject.
 */
function clientKey(ctx: ToolCallContext): string {
  // A 2026-07-28 request has no session: an OAuth caller is its subject.
  if (ctx.sessionId === null) {
    const subject = ctx.principal?.subject;
    if (subject === undefined) return "stdio";
    return "subject:" + createHash("sha256").update(subject).digest("hex").slice(0, 16);
  }
  return "session:" + createHash("sha256").update(ctx.sessionId).digest("hex").slice(0, 16);
}
