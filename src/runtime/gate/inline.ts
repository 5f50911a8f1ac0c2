/**
 * Inline approval: when the client can ask its user (it declared the
 * `elicitation` capability), a held call's pending approval is put to the
 * user as an MCP form elicitation: a boolean `approve` and an optional
 * `reason`. The answer is applied exactly as `loom approvals approve|deny`
 * would (same state change, same `approval` record), with the actor
 * `inline:<principal of the call>` (`principal.ts`) instead of `cli:<user>`.
 * The client's declared name is not an identity and is not used for it.
 *
 * Only an `accept` changes anything: `approve: true` approves, `approve:
 * false` denies (with the reason). `decline`, `cancel`, an error or no answer
 * before the deadline leave the approval pending for the command line.
 *
 * What this trusts: the client to show the question to a person (the MCP
 * specification requires clients to show elicitation requests to their
 * user). So an inline answer is not refused as "the same principal" that
 * asked, though it comes back through the requester's connection: the store
 * exempts `inline:` deciders (`approverIdentity()` in
 * `src/store/approvals.ts`). A client that answers its own elicitations can
 * approve its own held calls; an operator who does not trust the clients to
 * do that sets `runtime.inline_approval: false`, and every decision is left
 * to a person outside the client (see `docs/security-controls.md`).
 *
 * @module
 */

import type { Approval, LoomStore } from "../../store/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import type { ApprovalDesk } from "./approvals.ts";
import { decideApproval } from "../../security/escalation/mod.ts";
import { inlineDecider } from "./principal.ts";

/** Longest argument text shown in the question. */
const MAX_SHOWN_ARGS = 2000;
/** Longest reason kept from an answer. */
export const MAX_INLINE_REASON = 500;

/** What an inline question did to the approval. */
export type InlineOutcome = "approved" | "denied" | "pending";

/**
 * Ask the client's user, when the client can be asked, and apply the answer.
 *
 * @returns `approved` (the caller consumes it), `denied`, or `pending`
 */
export async function askInline(
  parts: GateParts,
  store: LoomStore,
  desk: ApprovalDesk,
  call: GateCall,
  approval: Approval,
): Promise<InlineOutcome> {
  const ctx = call.ctx;
  if (ctx.request === undefined || !ctx.clientCapabilities?.has("elicitation")) return "pending";
  let answer: Record<string, unknown>;
  try {
    answer = await ctx.request("elicitation/create", elicitationParams(approval));
  } catch {
    return "pending"; // declined to answer, failed, timed out or cancelled
  }
  return await applyInlineAnswer(parts, store, desk, call, approval, answer);
}

/**
 * The `elicitation/create` params that ask about one approval (form mode).
 *
 * @param approval the pending approval
 */
export function elicitationParams(approval: Approval): Record<string, unknown> {
  const args = approval.argsJson.length > MAX_SHOWN_ARGS
    ? `${approval.argsJson.slice(0, MAX_SHOWN_ARGS)}… (${approval.argsJson.length} characters)`
    : approval.argsJson;
  return {
    message: `Agent "${approval.agent}" wants to call tool "${approval.tool}", held for review ` +
      `by rule "${approval.rule}" (${approval.reason}). Arguments: ${args}. ` +
      `Approve this call once? (approval ${approval.id})`,
    requestedSchema: {
      type: "object",
      properties: {
        approve: {
          type: "boolean",
          title: "Approve",
          description: "Run this exact call once",
        },
        reason: {
          type: "string",
          title: "Reason",
          description: "Optional: why (recorded in the audit log)",
          maxLength: MAX_INLINE_REASON,
        },
      },
      required: ["approve"],
    },
  };
}

/**
 * Apply an elicitation result (`{ action, content }`) to the approval, as
 * the command line would, recording the change.
 *
 * @returns what it did; anything but an accept leaves the approval pending
 */
export async function applyInlineAnswer(
  parts: GateParts,
  store: LoomStore,
  desk: ApprovalDesk,
  call: GateCall,
  approval: Approval,
  answer: Record<string, unknown>,
): Promise<InlineOutcome> {
  const content = answer.content;
  if (answer.action !== "accept" || content === null || typeof content !== "object") {
    return "pending";
  }
  const { approve, reason } = content as Record<string, unknown>;
  if (typeof approve !== "boolean") return "pending";
  const decided = await decideApproval(store, parts.audit, approval.id, {
    approve,
    actor: inlineDecider(call.ctx),
    reason: typeof reason === "string" && reason !== ""
      ? reason.slice(0, MAX_INLINE_REASON)
      : undefined,
    now: desk.now(),
  });
  // Expired, refused (not for `inline:` deciders today), or decided elsewhere first.
  if (decided.kind !== "decided") return "pending";
  return approve ? "approved" : "denied";
}
