/**
 * One reviewer decision on a held call's approval, applied and recorded: the
 * store's `decide()` (which refuses a decision by the identity that asked)
 * followed by the `approval` audit record of what happened (`approved`,
 * `denied`, `decision_refused`, or `expired` when it was too late). Used by
 * `loom approvals approve|deny` and by inline answers, so every channel
 * records decisions the same way.
 *
 * @module
 */

import type { AuditLog } from "../audit/mod.ts";
import type { ApprovalDecision, LoomStore } from "../../store/mod.ts";
import { approvalRecord } from "./approval_record.ts";

/** A decision as a channel makes it. */
export interface ReviewerDecision {
  approve: boolean;
  /** The typed principal deciding: `cli:<user>`, `inline:<principal>`, `dashboard:<principal>`. */
  actor: string;
  /** The reviewer's reason, when given. */
  reason?: string;
  /** Milliseconds since the epoch. */
  now: number;
}

/**
 * Decide and record. A refused decision (`same_principal`) changes nothing
 * but is recorded (`decision_refused`, with the actor and who asked); the
 * record is durable before this returns.
 *
 * @param store the state database
 * @param audit the log
 * @param id the approval's id
 * @param decision approve or deny, by whom, why, when
 * @returns what the store did
 */
export async function decideApproval(
  store: LoomStore,
  audit: AuditLog,
  id: string,
  decision: ReviewerDecision,
): Promise<ApprovalDecision> {
  const decided = store.approvals.decide(id, decision);
  switch (decided.kind) {
    case "decided":
      await audit.append(
        approvalRecord(decided.approval, decision.approve ? "approved" : "denied"),
      );
      break;
    case "expired":
      await audit.append(approvalRecord(decided.approval, "expired"));
      break;
    case "same_principal":
      await audit.append(
        approvalRecord(decided.approval, "decision_refused", { actor: decision.actor }),
      );
      break;
  }
  return decided;
}
