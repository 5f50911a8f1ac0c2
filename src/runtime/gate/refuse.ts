/**
 * How steps 1-4 refuse a call before it runs. A refusal costs the client
 * nothing, so its records are bounded: a {@linkcode RefusalCoalescer} gives
 * a refusal its own record only within a budget per client (the MCP session,
 * or stdio), tool, kind and window, and counts the rest into
 * `refusal_summary` records. One client looping on refused calls can neither
 * fill the disk nor hide another client's refusals. An admitted record is
 * durable before the answer; if it cannot be written, the refusal is counted
 * instead and the client is told the log is unavailable.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { AuditEvent, PolicyRefusal, Refusal, RefusalKind } from "../../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";

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
  record: (session: string) => AuditEvent,
  message = "",
): Promise<CallToolResult> {
  const refusal: Refusal = { client: clientKey(ctx.sessionId), tool, kind };
  if (parts.refusals.admit(refusal)) {
    try {
      await parts.audit.append(record(refusal.client));
    } catch {
      parts.refusals.tally(refusal);
      return toolError("Audit log unavailable: the refusal could not be recorded");
    }
  }
  return toolError(message);
}

/** A refusal by policy (injection, tier, rate limit) as a `trust_violation` outcome. */
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
    ...fields,
  }), fields.detail);
}

/**
 * The client a refusal budget is kept for: the MCP session on HTTP, the one
 * connection on stdio. Session ids let whoever knows them post into the
 * session, so only a short hash of one is recorded.
 */
function clientKey(sessionId: string | null): string {
  if (sessionId === null) return "stdio";
  return "session:" + createHash("sha256").update(sessionId).digest("hex").slice(0, 16);
}
