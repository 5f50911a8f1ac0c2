/**
 * Tool-pin changes as audit records, and a person's approval of a changed
 * definition applied and recorded. {@linkcode pinRecord} is the `tool_pin`
 * record of what a check found (for the server that checks), and
 * {@linkcode approveToolPin} is the one way a pending definition becomes the
 * pin (for `loom pin approve`, and any later review channel), so every
 * channel records approvals the same way.
 *
 * The approval is bound to the pending digest the person reviewed: the
 * record is written (and durable) first, naming that digest, and the store
 * then moves exactly that definition into the pin. Should another version
 * arrive between the two (a server checking at that very moment), the store
 * refuses and the pin stays as it was; the record then names an approval
 * that did not take effect, and `loom pin list` shows the truth.
 *
 * @module
 */

import type { AuditLog, ToolPinEvent } from "../audit/mod.ts";
import type { LoomStore, PinVerdict } from "../../store/mod.ts";
import { NotFoundError, PolicyError } from "../../errors.ts";
import { changedFields } from "./definition.ts";

/** What {@linkcode approveToolPin} needs. */
export interface PinApproval {
  agent: string;
  tool: string;
  /** Who approves: `cli:<user>`. */
  actor: string;
  /** The pending digest the person reviewed (`loom pin diff`); default: whatever is pending. */
  expect?: string;
  /** Milliseconds since the epoch (default `Date.now()`). */
  now?: number;
}

/** What {@linkcode approveToolPin} did. */
export interface PinApproved {
  /** The digest pinned before. */
  from: string;
  /** The digest pinned now. */
  to: string;
  /** The top-level fields that changed. */
  changed: string[];
}

/**
 * The `tool_pin` record of one check verdict: `pinned` for a new tool,
 * `changed` for a changed one, null for a match (nothing to record).
 *
 * @param agent the agent
 * @param tool the tool's own name
 * @param verdict what `ToolPins.check()` answered for it
 */
export function pinRecord(agent: string, tool: string, verdict: PinVerdict): ToolPinEvent | null {
  switch (verdict.state) {
    case "match":
      return null;
    case "new":
      return {
        event: "tool_pin",
        agent,
        tool,
        action: "pinned",
        digest: verdict.digest,
        actor: "first-use",
      };
    case "changed":
      return {
        event: "tool_pin",
        agent,
        tool,
        action: "changed",
        digest: verdict.digest,
        pinned_digest: verdict.pinnedDigest,
        changed: verdict.changed,
      };
  }
}

/**
 * Approve a tool's pending definition and record it: the `tool_pin`
 * `approved` record is durable before the pin changes.
 *
 * @param store the state database
 * @param audit the log
 * @param approval which tool, by whom, the reviewed digest
 * @returns the digests before and after, and the changed fields
 * @throws {NotFoundError} when the tool was never pinned or nothing is pending (nothing recorded)
 * @throws {PolicyError} when the pending digest is not the reviewed one (nothing recorded)
 */
export async function approveToolPin(
  store: LoomStore,
  audit: AuditLog,
  approval: PinApproval,
): Promise<PinApproved> {
  const { agent, tool, actor } = approval;
  const row = store.toolPins.get(agent, tool);
  if (row === undefined) throw new NotFoundError(`No pinned tool "${tool}" of agent "${agent}"`);
  if (row.pending === null) {
    throw new NotFoundError(
      `Nothing pending for tool "${tool}" of agent "${agent}": its definition has not ` +
        "changed since it was pinned",
    );
  }
  const expect = approval.expect ?? row.pending.digest;
  if (expect !== row.pending.digest) {
    throw new PolicyError(
      `The pending definition of tool "${tool}" of agent "${agent}" is ${row.pending.digest}, ` +
        `not the reviewed ${expect}: review it again (loom pin diff) and approve that`,
    );
  }
  const changed = changedFields(row.pinned, row.pending.definition);
  await audit.append({
    event: "tool_pin",
    agent,
    tool,
    action: "approved",
    digest: expect,
    pinned_digest: row.pinnedDigest,
    changed,
    actor,
  });
  const { from, to } = store.toolPins.approve(agent, tool, actor, { expect, now: approval.now });
  return { from, to, changed };
}
