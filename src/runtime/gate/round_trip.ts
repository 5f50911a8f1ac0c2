/**
 * Inline approval for 2026-07-28 clients (multi round-trip requests): such a
 * request cannot carry a request to the client, so a held call whose client
 * declared `elicitation` in the request's `_meta` is answered with an
 * `input_required` result: one `elicitation/create` form (`approve`, and an
 * optional `reason`, the same question as `inline.ts` asks in a session)
 * under the key `approve`, and a signed `requestState` naming the approval
 * and its binding (`src/security/escalation/request_state.ts`).
 *
 * The client retries the call with `inputResponses.approve` and the state.
 * The state is verified (signature, expiry, the same agent, tool,
 * arguments, config and caller); then the answer is applied exactly as in a
 * session (`applyInlineAnswer()`): an approval is consumed by the caller and
 * the call runs once. A retry is never asked again: a decline, a cancel or
 * an answer that does not approve leaves the approval pending for the
 * command line, so a client cannot be made to loop.
 *
 * @module
 */

import type { InputRequired } from "../../mcp/mod.ts";
import type { Approval, ApprovalBinding, LoomStore } from "../../store/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import type { ApprovalDesk } from "./approvals.ts";
import { applyInlineAnswer, elicitationParams, type InlineOutcome } from "./inline.ts";

/** The key of the approval question in `inputRequests`. */
export const APPROVE_INPUT = "approve";

/** What the round trip decided. */
export type RoundTrip =
  /** Not a 2026-07-28 client that can be asked: the plain held answer. */
  | { kind: "none" }
  /** Ask: answer `input_required` with these fields. */
  | { kind: "ask"; inputRequired: InputRequired }
  /** The retry's state failed verification. */
  | { kind: "bad_state" }
  /** The retry's answer, applied. */
  | { kind: "answered"; outcome: InlineOutcome };

/**
 * Ask, or apply the answer of a retry.
 *
 * @param approval the binding's pending approval
 * @param binding the call's binding
 */
export async function roundTrip(
  parts: GateParts,
  store: LoomStore,
  desk: ApprovalDesk,
  call: GateCall,
  approval: Approval,
  binding: ApprovalBinding,
): Promise<RoundTrip> {
  const ctx = call.ctx;
  if (!ctx.acceptsInputRequired || !ctx.clientCapabilities?.has("elicitation")) {
    return { kind: "none" };
  }
  const signer = await desk.signer();
  const expected = { ...binding, subject: call.subject };
  if (ctx.requestState === undefined) {
    const requestState = await signer.sign({
      approval: approval.id,
      ...expected,
      expiresAt: approval.expiresAt,
    });
    return {
      kind: "ask",
      inputRequired: {
        inputRequests: {
          [APPROVE_INPUT]: {
            method: "elicitation/create",
            params: { mode: "form", ...elicitationParams(approval) },
          },
        },
        requestState,
      },
    };
  }
  const state = await signer.verify(ctx.requestState, expected, desk.now());
  if (state === null) return { kind: "bad_state" };
  // A state for an earlier approval of this call (expired since): not this one's answer.
  if (state.approval !== approval.id) return { kind: "none" };
  const answer = ctx.inputResponses?.[APPROVE_INPUT];
  if (answer === null || typeof answer !== "object" || Array.isArray(answer)) {
    return { kind: "none" };
  }
  const outcome = await applyInlineAnswer(
    parts,
    store,
    desk,
    call,
    approval,
    answer as Record<string, unknown>,
  );
  return { kind: "answered", outcome };
}
