/**
 * The `approval` audit record of one change to a held call's approval. One
 * builder for both writers, the gate (requested, consumed, expired, voided,
 * and inline decisions) and `loom approvals` (approved, denied, expired), so
 * the records of one approval read the same whoever wrote them.
 *
 * @module
 */

import type { ApprovalChange } from "../audit/mod.ts";
import type { Approval } from "../../store/mod.ts";

/**
 * The record of one change.
 *
 * @param approval the approval after the change
 * @param action what happened to it
 * @param extra fields of this change: `call` (requested, consumed), `actor`
 *   (decision_refused: who tried to decide)
 * @returns the record to append
 */
export function approvalRecord(
  approval: Approval,
  action: ApprovalChange["action"],
  extra: { call?: string; actor?: string } = {},
): ApprovalChange {
  const record: ApprovalChange = {
    event: "approval",
    agent: approval.agent,
    tool: approval.tool,
    action,
    approval: approval.id,
    rule: approval.rule,
    args_sha256: approval.argsSha256,
    config_digest: approval.configDigest,
  };
  if (action === "approved" || action === "denied") {
    if (approval.decidedBy !== null) record.actor = approval.decidedBy;
    if (approval.decisionReason !== null) record.reason = approval.decisionReason;
  }
  if (action === "decision_refused" && extra.actor !== undefined) record.actor = extra.actor;
  if (
    action === "requested" || action === "approved" || action === "denied" ||
    action === "decision_refused"
  ) {
    record.requested_by = approval.requestedBy;
  }
  if (action === "requested" || action === "approved" || action === "denied") {
    record.expires_at = new Date(approval.expiresAt).toISOString();
  }
  if (extra.call !== undefined) record.call = extra.call;
  return record;
}
