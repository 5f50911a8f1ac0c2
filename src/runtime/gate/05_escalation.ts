/**
 * Step 5, escalation: a call that an `escalation_rules` entry matches, and
 * every write call of a tier 4 agent, is held until a person approves that
 * exact call (agent, tool, SHA-256 of the canonical arguments, config
 * digest; see `approvals.ts`). Held calls come after the rate limit, so the
 * records of held calls are bounded by it, and by the pending cap.
 *
 * A held call:
 * 1. runs if an approval of its binding is approved and live: the approval
 *    is consumed in one statement (so two retries cannot both run) and
 *    recorded (`approval` `consumed`), and the call goes on to step 6;
 * 2. otherwise opens (or finds) the pending approval of its binding and,
 *    when the client can ask its user, asks inline: in a session that
 *    declared `elicitation`, with a request to the client (`inline.ts`); in
 *    a 2026-07-28 request whose `_meta` declares it, with an
 *    `input_required` answer and a signed `requestState`, and applies the
 *    retry's answer (`round_trip.ts`); an accept that approves runs the call
 *    once, exactly as 1;
 * 3. otherwise ends with a `held` outcome and a tool error naming the
 *    approval and the command that approves it; a denial in force, an
 *    expired earlier approval and a full review queue each say so.
 *
 * The approval records who asked (`requested_by`, the call's principal, see
 * `principal.ts`); that identity may not approve it. Reviewers hear of a new
 * approval or a "review queue full" refusal through the desk's coalesced
 * notices (`review_notices.ts`): one line at once, then one summary per
 * window, however many calls a client sends.
 *
 * Without an approval desk (a gate with no LOOM home, as in some tests) a
 * held call is refused, as before approvals existed.
 *
 * @module
 */

import { decideEscalation, type EscalationDecision } from "../../security/escalation/mod.ts";
import type { InjectionFinding } from "../../security/validate/mod.ts";
import type { CallToolResult, InputRequired } from "../../mcp/mod.ts";
import type { Approval, ApprovalBinding, LoomStore } from "../../store/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { findingsFields } from "./06_intent.ts";
import { recordOutcome } from "./10_outcome.ts";
import {
  approvalBinding,
  type ApprovalDesk,
  approveCommand,
  describeTtl,
  recordApprovals,
} from "./approvals.ts";
import { askInline } from "./inline.ts";
import { roundTrip } from "./round_trip.ts";
import { callerPrincipal } from "./principal.ts";

type Hold = Extract<EscalationDecision, { hold: true }>;

/**
 * Decide whether the call is held and, if so, whether an approval lets it run.
 *
 * @returns null when it is not held; else a promise of null when an approval
 *   lets it run (consumed and recorded), or of the `held` answer (recorded)
 */
export function holdForReview(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
  input: Record<string, unknown>,
  findings: readonly InjectionFinding[],
): Promise<CallToolResult | null> | null {
  if (entry.escalation === null) return null;
  const decision = decideEscalation(entry.escalation, {
    tier: parts.config.runtime.trustTier,
    tool: call.tool,
    access: entry.tool.access,
    args: input,
  });
  if (!decision.hold) return null;
  const held = (message: string, approval?: string, inputRequired?: InputRequired) =>
    recordOutcome(parts, call, "held", { ...toolError(message), inputRequired }, {
      error: message,
      rule: decision.rule,
      reason: decision.reason,
      held_by: decision.by,
      ...(approval === undefined ? {} : { approval }),
      ...findingsFields(findings),
    });
  const desk = parts.approvals;
  if (desk === undefined) {
    return held(
      `${heldBy(decision)}: approvals are not available here (no state database), so the ` +
        "call was not run",
    );
  }
  return review(parts, desk, call, decision, input, held);
}

async function review(
  parts: GateParts,
  desk: ApprovalDesk,
  call: GateCall,
  decision: Hold,
  input: Record<string, unknown>,
  held: (
    message: string,
    approval?: string,
    inputRequired?: InputRequired,
  ) => Promise<CallToolResult>,
): Promise<CallToolResult | null> {
  const { argsJson, ...binding } = approvalBinding(parts.config, call.tool, input);
  let store: LoomStore;
  try {
    store = await desk.store();
  } catch {
    return await held(
      `${heldBy(decision)}: the approvals database cannot be opened, so the call was not run`,
    );
  }
  try {
    if (await consume(parts, store, desk, call, binding)) return null;
    const found = store.approvals.request(
      {
        ...binding,
        argsJson,
        rule: decision.rule,
        reason: decision.reason,
        requestedBy: callerPrincipal(call.ctx),
      },
      { now: desk.now(), ttlMs: desk.ttlMs, maxPending: desk.maxPending },
    );
    await recordApprovals(parts.audit, [
      ...found.expired.map((a) => [a, "expired"] as const),
      ...found.voided.map((a) => [a, "voided"] as const),
    ]);
    const ttl = describeTtl(desk.ttlMs);
    switch (found.kind) {
      case "queue_full":
        call.denial = "queue_full";
        desk.notices.refused(call.tool, found.pending);
        return await held(
          `${heldBy(decision)}, and refused: review queue full. Agent "${parts.config.name}" ` +
            `already has ${found.pending} approvals pending (at most ${desk.maxPending}); ` +
            `a reviewer must clear some ("loom approvals list") before new ones are accepted`,
        );
      case "denied": {
        const a = found.approval;
        return await held(
          `${heldBy(decision)}: approval ${a.id} for this exact call was denied by ` +
            `${a.decidedBy ?? "a reviewer"}${a.decisionReason ? ` (${a.decisionReason})` : ""}; ` +
            `the same call is refused until ${new Date(a.expiresAt).toISOString()}`,
          a.id,
        );
      }
      case "approved":
        // Approved between our consume and our request (another process): take it now.
        if (await consume(parts, store, desk, call, binding)) return null;
        break;
      case "created":
        await recordApprovals(parts.audit, [[found.approval, "requested", { call: call.id }]]);
        desk.notices.held(found.approval);
        break;
    }
    const approval = found.approval;
    const earlier = found.kind === "created"
      ? earlierNote(found.previous, found.voided, binding)
      : "";
    const pending = `${heldBy(decision)}. ${earlier}Approval ${approval.id} is pending: a ` +
      `reviewer approves it with "${approveCommand(approval.id)}" (or denies it with "loom ` +
      `approvals deny ${approval.id}"). Once approved, send the same call with the same ` +
      `arguments again within ${ttl}: it runs once.`;
    // `runtime.inline_approval: false`: only the command line decides.
    if (approval.status === "pending" && parts.config.runtime.inlineApproval) {
      const trip = await roundTrip(parts, store, desk, call, approval, binding);
      if (trip.kind === "ask") return await held(pending, approval.id, trip.inputRequired);
      if (trip.kind === "bad_state") {
        return await held(
          `${heldBy(decision)}: the requestState sent back failed verification (altered, ` +
            `expired, or for another call), so no answer was applied. ${pending}`,
          approval.id,
        );
      }
      const inline = trip.kind === "answered"
        ? trip.outcome
        : await askInline(parts, store, desk, call, approval);
      if (inline === "approved" && await consume(parts, store, desk, call, binding)) return null;
      if (inline === "denied") {
        return await held(
          `${heldBy(decision)}: the client's user denied approval ${approval.id}`,
          approval.id,
        );
      }
    }
    return await held(pending, approval.id);
  } catch (error) {
    if (error instanceof AuditUnavailable) {
      call.denial = "audit_unavailable";
      return toolError("Audit log unavailable: the approval could not be recorded");
    }
    console.error("loom: approvals failed:", error);
    return await held(
      `${heldBy(decision)}: the approval could not be checked, so the call was not run`,
    );
  }
}

/** Take the binding's approved approval, if any, and record its use. */
async function consume(
  parts: GateParts,
  store: LoomStore,
  desk: ApprovalDesk,
  call: GateCall,
  binding: ApprovalBinding,
): Promise<boolean> {
  const used = store.approvals.consume(binding, desk.now());
  if (used === null) return false;
  try {
    await recordApprovals(parts.audit, [[used, "consumed", { call: call.id }]]);
  } catch {
    // The call must not run without its record; the approval stays spent.
    throw new AuditUnavailable();
  }
  return true;
}

class AuditUnavailable extends Error {}

function heldBy(decision: Hold): string {
  return `Call held for review by rule "${decision.rule}" (${decision.reason})`;
}

/** Why a new approval was opened when the call had one before. */
function earlierNote(
  previous: Approval | null,
  voided: readonly Approval[],
  binding: ApprovalBinding,
): string {
  if (previous?.status === "expired") {
    return `Approval ${previous.id} for this call expired at ` +
      `${new Date(previous.expiresAt).toISOString()} without being used. `;
  }
  const stale = voided.find((a) => a.tool === binding.tool && a.argsSha256 === binding.argsSha256);
  if (stale !== undefined) {
    return `Approval ${stale.id} was void: the agent's config changed since it was asked for. `;
  }
  return "";
}
