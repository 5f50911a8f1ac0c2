/**
 * The verdicts `check.ts` draws from the list of trusted checkpoints alone:
 * two histories (`fork`), deleted checkpoints (`gap`), a checkpoint smaller
 * than an earlier one (`rollback`), a running writer's silence
 * (`cadence_gap`), and which checkpoint the log first disagrees with.
 *
 * @module
 */

import { bodyDigest, type Checkpoint, CHECKPOINT_FILE_NAME } from "./checkpoint.ts";
import type { AuditVerdict } from "./check.ts";

/** A trusted checkpoint with where it was read. */
export interface SourcedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly line: number;
  readonly source: string;
}

/** Most verdicts of one kind reported. */
export const MAX_REPORTED = 20;
/** Slack on a heartbeat before a cadence gap is reported (timers fire late under load). */
const HEARTBEAT_SLACK_MS = 60_000;

/** The checkpoint covering the most records (the newest of those). */
export function latest(list: readonly SourcedCheckpoint[]): SourcedCheckpoint | null {
  let best: SourcedCheckpoint | null = null;
  for (const c of list) if (best === null || c.checkpoint.size >= best.checkpoint.size) best = c;
  return best;
}

/** The first checkpoint (by size) the log disagrees with, and the last size it agrees with. */
export function firstMismatch(
  list: readonly SourcedCheckpoint[],
  agrees: (c: Checkpoint) => boolean | null,
): { at: SourcedCheckpoint; lastGood: number | null } | null {
  const sorted = [...list].sort((a, b) => a.checkpoint.size - b.checkpoint.size);
  let lastGood: number | null = null;
  for (const c of sorted) {
    const agreed = agrees(c.checkpoint);
    if (agreed === null) continue;
    if (!agreed) return { at: c, lastGood };
    lastGood = c.checkpoint.size;
  }
  return null;
}

/** Two signed checkpoints of one size with different roots: the signer showed two histories. */
export function forks(list: readonly SourcedCheckpoint[]): AuditVerdict[] {
  const bySize = new Map<number, SourcedCheckpoint>();
  for (const c of list) {
    const seen = bySize.get(c.checkpoint.size);
    if (seen === undefined) {
      bySize.set(c.checkpoint.size, c);
    } else if (seen.checkpoint.root !== c.checkpoint.root) {
      return [{
        kind: "fork",
        severity: "failure",
        seq: c.checkpoint.size,
        line: c.line,
        detail: `Cannot trust the checkpoints of size ${c.checkpoint.size}: ` +
          `${seen.source}:${seen.line} and ${c.source}:${c.line} are both signed and name ` +
          `different Merkle roots (two histories of the log)`,
      }];
    }
  }
  return [];
}

/** Checkpoints whose `prev` does not name the one before them: some were deleted. */
export function gaps(list: readonly SourcedCheckpoint[]): AuditVerdict[] {
  const out: AuditVerdict[] = [];
  for (let i = 0; i < list.length; i++) {
    const c = list[i].checkpoint;
    const before = i === 0 ? null : list[i - 1].checkpoint;
    const expected = before === null ? null : bodyDigest(before.body);
    if (c.prev === expected) continue;
    const interval = before === null
      ? `before ${c.time}`
      : `between ${before.time} (line ${list[i - 1].line}) and ${c.time} (line ${list[i].line})`;
    out.push({
      kind: "gap",
      severity: "failure",
      seq: c.size,
      line: list[i].line,
      detail: `Cannot account for every checkpoint: one or more are missing ${interval}`,
    });
    if (out.length >= MAX_REPORTED) break;
  }
  return out;
}

/** A later checkpoint (in file order) that covers fewer records than an earlier one. */
export function shrinking(list: readonly SourcedCheckpoint[]): AuditVerdict[] {
  let most: SourcedCheckpoint | null = null;
  for (const c of list) {
    if (most !== null && c.checkpoint.size < most.checkpoint.size) {
      return [{
        kind: "rollback",
        severity: "failure",
        seq: c.checkpoint.size,
        line: c.line,
        detail: `Cannot trust checkpoint ${CHECKPOINT_FILE_NAME}:${c.line}: it covers ` +
          `${c.checkpoint.size} records, fewer than the ${most.checkpoint.size} of line ${most.line}`,
      }];
    }
    if (most === null || c.checkpoint.size > most.checkpoint.size) most = c;
  }
  return [];
}

/** Warnings for a running writer whose checkpoints are further apart than its heartbeat. */
export function quietIntervals(list: readonly SourcedCheckpoint[]): AuditVerdict[] {
  const out: AuditVerdict[] = [];
  for (let i = 1; i < list.length; i++) {
    const before = list[i - 1].checkpoint;
    const c = list[i].checkpoint;
    if (c.opened !== before.opened || c.heartbeat === null) continue;
    const quiet = Date.parse(c.time) - Date.parse(before.time);
    if (quiet <= c.heartbeat * 1000 * 2 + HEARTBEAT_SLACK_MS) continue;
    out.push({
      kind: "cadence_gap",
      severity: "warning",
      seq: c.size,
      line: list[i].line,
      detail: `No checkpoint for ${Math.round(quiet / 1000)} s between ${before.time} and ` +
        `${c.time} while the writer was running (heartbeat ${c.heartbeat} s): asleep, or ` +
        `checkpoints could not be written`,
    });
  }
  return out;
}
