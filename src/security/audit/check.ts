/**
 * The whole check behind `loom audit verify`: the chain (`verify.ts`), then
 * the signed checkpoints (`checkpoint.ts`) against it, and optionally
 * checkpoints exported earlier (`--against`). The result is a list of typed
 * verdicts (`docs/security-controls.md`, "Audit log"; `docs/security-requirements.md`,
 * AUD-10, AUD-12 to AUD-15):
 *
 * | verdict | failure when |
 * | --- | --- |
 * | `modified`, `deleted`, `reordered`, `chain_broken`, `malformed` | the chain itself is damaged (`verify.ts`) |
 * | `truncated` | the last line is torn, or the log is shorter than its last checkpoint |
 * | `rewritten` | the records under a checkpoint no longer have the Merkle root or head hash it signed: the chain was recomputed |
 * | `forged_checkpoint` | a checkpoint is malformed, names another log, carries no trusted key's signature, or its signature fails |
 * | `gap` | a checkpoint does not name the one before it (`prev`): checkpoints were deleted from the file |
 * | `fork` | two signed checkpoints of the same size disagree, or the log disagrees with an exported checkpoint it is long enough to hold: two histories |
 * | `rollback` | the log is shorter than an exported checkpoint, or a later checkpoint covers fewer records than an earlier one |
 * | `cadence_gap` | (warning only) more than `everyRecords` records after the last checkpoint, or a running writer's checkpoints further apart than its heartbeat allows |
 *
 * Why a cadence gap is a warning: it has honest causes (a log written before
 * checkpoints existed, a process killed or a machine asleep before the next
 * checkpoint, a key that could not be read, reported on stderr when it
 * happened) and by itself proves no damage; truncation, rewrites and deleted
 * checkpoints are failures already.
 *
 * What no verdict here can see: records appended after the last checkpoint
 * and then cut or rewritten (only a later, exported checkpoint covers them);
 * deletion of the checkpoint file together with the tail (only `--against`);
 * anything done by someone who can read the signing key.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { IntegrityError } from "../../errors.ts";
import { resolveLogFile } from "./_io.ts";
import {
  type Checkpoint,
  CHECKPOINT_FILE_NAME,
  LOG_ID_FILE_NAME,
  parseCheckpointLine,
  type Parsed,
  parseExported,
} from "./checkpoint.ts";
import { checkCheckpointSignature, type TrustedKey } from "./checkpoint_keys.ts";
import { DEFAULT_CHECKPOINT_RECORDS } from "./_checkpoint_writer.ts";
import {
  firstMismatch,
  forks,
  gaps,
  latest,
  MAX_REPORTED,
  quietIntervals,
  shrinking,
  type SourcedCheckpoint,
} from "./_checkpoint_verdicts.ts";
import type { AuditDamage, VerifyReport } from "./types.ts";
import { verifyAuditLog, type VerifyOptions } from "./verify.ts";

/** Every kind of verdict. */
export type AuditVerdictKind =
  | AuditDamage
  | "rewritten"
  | "forged_checkpoint"
  | "gap"
  | "fork"
  | "rollback"
  | "cadence_gap";

/** One finding of {@linkcode checkAuditLog}. */
export interface AuditVerdict {
  /** What was found. */
  kind: AuditVerdictKind;
  /** `failure` makes the log fail the check; `warning` does not. */
  severity: "failure" | "warning";
  /** The record concerned, or null. */
  seq: number | null;
  /** Line in the log (chain damage) or in the checkpoint source (checkpoint verdicts). */
  line: number | null;
  /** Human detail, e.g. `Cannot verify audit record 42: hash mismatch`. */
  detail: string;
}

/** Options of {@linkcode checkAuditLog}. */
export interface CheckOptions extends Omit<VerifyOptions, "hashesAt" | "rootsAt"> {
  /** Public keys whose checkpoints are trusted (from the `.pub` file, or `--key`). */
  trustedKeys: readonly TrustedKey[];
  /** Checkpoints exported earlier (`loom audit checkpoint`), with where they came from. */
  against?: readonly { source: string; text: string }[];
  /** The cadence the writer was asked for, to warn about gaps. Default 1000. */
  everyRecords?: number;
}

/** The result of {@linkcode checkAuditLog}. */
export interface AuditCheckReport {
  /** True when no verdict is a failure. */
  ok: boolean;
  /** The chain check. */
  chain: VerifyReport;
  /** Checkpoint lines read, how many verified, and the latest (largest, then newest) verified one. */
  checkpoints: { total: number; verified: number; last: Checkpoint | null };
  /** Failures first. */
  verdicts: AuditVerdict[];
}

/**
 * Check a log and its checkpoints.
 *
 * @param path the log directory or its `audit.jsonl`
 * @param options trusted keys, exported checkpoints, cadence
 * @throws {NotFoundError} when there is no log at `path`
 * @throws {IntegrityError} (exit 65) when the checkpoint file is not a regular file
 */
export async function checkAuditLog(
  path: string,
  options: CheckOptions,
): Promise<AuditCheckReport> {
  const dir = dirname(await resolveLogFile(path));
  const warnings: AuditVerdict[] = [];
  const logId = await readLogId(dir);
  const local = await readCheckpointFile(join(dir, CHECKPOINT_FILE_NAME));
  if (local.torn) {
    warnings.push({
      kind: "malformed",
      severity: "warning",
      seq: null,
      line: local.lines.length + 1,
      detail: `Ignoring the last line of ${CHECKPOINT_FILE_NAME}: incomplete (torn write)`,
    });
  }
  const localParsed = local.lines.map((text): Parsed<Checkpoint> => {
    const parsed = parseCheckpointLine(text);
    return parsed.ok ? { ok: true, value: parsed.value.checkpoint } : parsed;
  });
  const expectLog = logId ?? firstLogId(localParsed);
  const forged: AuditVerdict[] = [];
  const trust = (
    items: readonly { line: number; parsed: Parsed<Checkpoint> }[],
    source: string,
  ): SourcedCheckpoint[] => {
    const good: SourcedCheckpoint[] = [];
    for (const { line, parsed } of items) {
      const why = checkpointProblem(parsed, expectLog, options.trustedKeys);
      if (typeof why === "string") {
        forged.push({
          kind: "forged_checkpoint",
          severity: "failure",
          seq: null,
          line,
          detail: `Cannot trust checkpoint at ${source}:${line}: ${why}`,
        });
      } else good.push({ checkpoint: why, line, source });
    }
    return good;
  };
  const checkpoints = trust(
    localParsed.map((parsed, i) => ({ line: i + 1, parsed })),
    CHECKPOINT_FILE_NAME,
  );
  const exported = (options.against ?? []).flatMap(({ source, text }) =>
    trust(parseExported(text), source)
  );
  if ((local.lines.length > 0 || exported.length > 0) && options.trustedKeys.length === 0) {
    forged.length = 0;
    forged.push({
      kind: "forged_checkpoint",
      severity: "failure",
      seq: null,
      line: null,
      detail: "Cannot check any checkpoint: no trusted public key (pass --key FILE)",
    });
  }
  const sizes = new Set<number>();
  for (const c of [...checkpoints, ...exported]) sizes.add(c.checkpoint.size);
  const chain = await verifyAuditLog(path, {
    onProgress: options.onProgress,
    strict: options.strict,
    parallel: options.parallel,
    hashesAt: sizes,
    rootsAt: sizes,
  });
  const failures: AuditVerdict[] = [];
  if (chain.firstBad !== undefined) {
    const { kind, seq, line, detail } = chain.firstBad;
    failures.push({ kind, severity: "failure", seq, line, detail });
  }
  failures.push(...forged.slice(0, MAX_REPORTED));
  if (forged.length > MAX_REPORTED) {
    failures.push({
      kind: "forged_checkpoint",
      severity: "failure",
      seq: null,
      line: null,
      detail: `${forged.length - MAX_REPORTED} more checkpoints cannot be trusted`,
    });
  }
  const agrees = (c: Checkpoint): boolean | null => {
    const hash = chain.hashesAt?.get(c.size);
    const root = chain.rootsAt?.get(c.size);
    if (hash === undefined || root === undefined) return null; // beyond the verified chain
    return hash === c.head && root === c.root;
  };
  failures.push(...forks([...checkpoints, ...exported]));
  failures.push(...gaps(checkpoints));
  const rewritten = firstMismatch(checkpoints, agrees);
  if (rewritten !== null) {
    const { checkpoint: c, line } = rewritten.at;
    const from = rewritten.lastGood === null ? 1 : rewritten.lastGood + 1;
    failures.push({
      kind: "rewritten",
      severity: "failure",
      seq: c.size,
      line,
      detail: `Cannot verify audit records ${from} to ${c.size}: they are not the ones ` +
        `checkpoint ${CHECKPOINT_FILE_NAME}:${line} signed; the chain was recomputed between ` +
        `seq ${from} and ${c.size}`,
    });
  }
  const last = latest(checkpoints);
  if (last !== null && chain.ok && last.checkpoint.size > chain.records) {
    failures.push({
      kind: "truncated",
      severity: "failure",
      seq: chain.records + 1,
      line: last.line,
      detail: `Cannot verify audit records ${chain.records + 1} to ${last.checkpoint.size}: ` +
        `the log ends at seq ${chain.records} but checkpoint ${CHECKPOINT_FILE_NAME}:${last.line} ` +
        `covers ${last.checkpoint.size} records`,
    });
  }
  failures.push(...shrinking(checkpoints));
  for (const e of exported) {
    const c = e.checkpoint;
    const agreed = agrees(c);
    if (agreed === false) {
      failures.push({
        kind: "fork",
        severity: "failure",
        seq: c.size,
        line: e.line,
        detail: `Cannot verify audit records 1 to ${c.size}: they differ from the ones the ` +
          `exported checkpoint ${e.source}:${e.line} signed (another history of the log)`,
      });
    } else if (agreed === null && chain.ok && c.size > chain.records) {
      failures.push({
        kind: "rollback",
        severity: "failure",
        seq: c.size,
        line: e.line,
        detail: `Cannot verify audit record ${c.size}: the log ends at seq ${chain.records}, ` +
          `but the exported checkpoint ${e.source}:${e.line} covers ${c.size} records ` +
          `(an older copy of the log)`,
      });
    }
  }
  const everyRecords = options.everyRecords ?? DEFAULT_CHECKPOINT_RECORDS;
  const covered = last === null ? 0 : Math.min(last.checkpoint.size, chain.records);
  if (chain.ok && chain.records - covered > everyRecords) {
    warnings.push({
      kind: "cadence_gap",
      severity: "warning",
      seq: covered + 1,
      line: null,
      detail: `${chain.records - covered} records after ${
        last === null ? "the start with no checkpoint" : `the last checkpoint (seq ${covered})`
      }; one is expected every ${everyRecords}`,
    });
  }
  warnings.push(...quietIntervals(checkpoints));
  return {
    ok: failures.length === 0,
    chain,
    checkpoints: {
      total: local.lines.length,
      verified: checkpoints.length,
      last: last?.checkpoint ?? null,
    },
    verdicts: [...failures, ...warnings],
  };
}

/** The checkpoint a parse holds, or why it cannot be trusted. */
function checkpointProblem(
  parsed: Parsed<Checkpoint>,
  logId: string | null,
  trusted: readonly TrustedKey[],
): Checkpoint | string {
  if (!parsed.ok) return parsed.reason;
  const c = parsed.value;
  if (logId !== null && c.log !== logId) return `it belongs to another log ("${c.log}")`;
  if (trusted.length === 0) return "no trusted public key";
  return checkCheckpointSignature(c, trusted) ?? c;
}

function firstLogId(parsed: readonly Parsed<Checkpoint>[]): string | null {
  for (const p of parsed) if (p.ok) return p.value.log;
  return null;
}

async function readLogId(dir: string): Promise<string | null> {
  try {
    return (await Deno.readTextFile(join(dir, LOG_ID_FILE_NAME))).trim();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The complete lines of the checkpoint file (none when it is absent), and whether the last was torn. */
async function readCheckpointFile(path: string): Promise<{ lines: string[]; torn: boolean }> {
  let text: string;
  try {
    // Never follow a link or read a device: the file is untrusted input.
    const info = await Deno.lstat(path);
    if (!info.isFile) {
      throw new IntegrityError(`Cannot read audit checkpoints "${path}": not a regular file`);
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { lines: [], torn: false };
    throw error;
  }
  if (text === "") return { lines: [], torn: false };
  const lines = text.split("\n");
  const torn = lines[lines.length - 1] !== "";
  lines.pop();
  return { lines, torn };
}
