/**
 * The whole check behind `loom audit verify`: the chain (`verify.ts`), then
 * the signed checkpoints (`checkpoint.ts`) against it, and optionally
 * checkpoints exported earlier (`--against`). The result is a list of typed
 * verdicts (`docs/security-controls.md`, "Audit log"; `docs/security-requirements.md`,
 * AUD-10):
 *
 * | verdict | failure when |
 * | --- | --- |
 * | `modified`, `deleted`, `reordered`, `chain_broken`, `malformed` | the chain itself is damaged (`verify.ts`) |
 * | `truncated` | the last line is torn, or the log is shorter than its last checkpoint |
 * | `rewritten` | the record at a checkpoint's `seq` no longer has the hash it signed: the chain up to it was recomputed |
 * | `forged_checkpoint` | a checkpoint line is malformed, names another log, is signed by an unknown key, or its signature fails |
 * | `rollback` | the log lacks an exported checkpoint's record, or has another one there |
 * | `cadence_gap` | (warning only) more than `everyRecords` records after the last checkpoint |
 *
 * Why a cadence gap is a warning: it has honest causes (a log written before
 * checkpoints existed, a process killed before its next checkpoint, a key that
 * could not be read, reported on stderr when it happened) and by itself proves
 * no damage; truncation and rewrites under a checkpoint are failures already.
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
  checkCheckpointSignature,
  type Checkpoint,
  CHECKPOINT_FILE_NAME,
  LOG_ID_FILE_NAME,
  parseCheckpointLine,
  type TrustedKey,
} from "./checkpoint.ts";
import { DEFAULT_CHECKPOINT_RECORDS } from "./_checkpoint_writer.ts";
import type { AuditDamage, VerifyReport } from "./types.ts";
import { verifyAuditLog, type VerifyOptions } from "./verify.ts";

/** Every kind of verdict. */
export type AuditVerdictKind =
  | AuditDamage
  | "rewritten"
  | "forged_checkpoint"
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
export interface CheckOptions extends Omit<VerifyOptions, "hashesAt"> {
  /** Public keys whose checkpoints are trusted (from the `.pub` file, or `--key`). */
  trustedKeys: readonly TrustedKey[];
  /** Checkpoint lines exported earlier (`loom audit checkpoint`), with where they came from. */
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
  /** Checkpoint lines read, and how many verified. */
  checkpoints: { total: number; verified: number; last: Checkpoint | null };
  /** Failures first, each kind once at most per checkpoint source. */
  verdicts: AuditVerdict[];
}

interface SourcedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly line: number;
  readonly source: string;
}

const MAX_FORGED_REPORTED = 20;

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
  const verdicts: AuditVerdict[] = [];
  const logId = await readLogId(dir);
  const local = await readCheckpointFile(join(dir, CHECKPOINT_FILE_NAME));
  if (local.torn) {
    verdicts.push({
      kind: "malformed",
      severity: "warning",
      seq: null,
      line: local.lines.length + 1,
      detail: `Ignoring the last line of ${CHECKPOINT_FILE_NAME}: incomplete (torn write)`,
    });
  }
  const forged: AuditVerdict[] = [];
  const expectLog = logId ?? firstLogId(local.lines);
  const trust = (lines: readonly string[], source: string): SourcedCheckpoint[] => {
    const good: SourcedCheckpoint[] = [];
    lines.forEach((text, i) => {
      if (text.trim() === "" && source !== CHECKPOINT_FILE_NAME) return;
      const why = checkpointProblem(text, expectLog, options.trustedKeys);
      if (typeof why === "string") {
        forged.push({
          kind: "forged_checkpoint",
          severity: "failure",
          seq: null,
          line: i + 1,
          detail: `Cannot trust checkpoint at ${source}:${i + 1}: ${why}`,
        });
      } else good.push({ checkpoint: why, line: i + 1, source });
    });
    return good;
  };
  const checkpoints = trust(local.lines, CHECKPOINT_FILE_NAME);
  const exported = (options.against ?? []).flatMap(({ source, text }) =>
    trust(text.split("\n").filter((l) => l.trim() !== ""), source)
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
  const wanted = new Set<number>();
  for (const c of [...checkpoints, ...exported]) wanted.add(c.checkpoint.seq);
  const chain = await verifyAuditLog(path, {
    onProgress: options.onProgress,
    strict: options.strict,
    parallel: options.parallel,
    hashesAt: wanted,
  });
  const failures: AuditVerdict[] = [];
  if (chain.firstBad !== undefined) {
    const { kind, seq, line, detail } = chain.firstBad;
    failures.push({ kind, severity: "failure", seq, line, detail });
  }
  failures.push(...forged.slice(0, MAX_FORGED_REPORTED));
  if (forged.length > MAX_FORGED_REPORTED) {
    failures.push({
      kind: "forged_checkpoint",
      severity: "failure",
      seq: null,
      line: null,
      detail: `${forged.length - MAX_FORGED_REPORTED} more checkpoints cannot be trusted`,
    });
  }
  const hashes = chain.hashesAt ?? new Map<number, string>();
  const sorted = [...checkpoints].sort((a, b) => a.checkpoint.seq - b.checkpoint.seq);
  const rewritten = firstMismatch(sorted, hashes);
  if (rewritten !== null) {
    const { checkpoint: c, line } = rewritten.at;
    const from = rewritten.lastGood === null ? 1 : rewritten.lastGood + 1;
    failures.push({
      kind: "rewritten",
      severity: "failure",
      seq: c.seq,
      line,
      detail: `Cannot verify audit record ${c.seq}: its hash is not the one checkpoint ` +
        `${CHECKPOINT_FILE_NAME}:${line} signed; the chain was recomputed between seq ${from} ` +
        `and ${c.seq}`,
    });
  }
  const last = sorted.length === 0 ? null : sorted[sorted.length - 1];
  if (last !== null && chain.ok && last.checkpoint.seq > chain.records) {
    failures.push({
      kind: "truncated",
      severity: "failure",
      seq: chain.records + 1,
      line: last.line,
      detail: `Cannot verify audit records ${chain.records + 1} to ${last.checkpoint.seq}: ` +
        `the log ends at seq ${chain.records} but checkpoint ${CHECKPOINT_FILE_NAME}:${last.line} ` +
        `covers ${last.checkpoint.seq} records`,
    });
  }
  for (const e of exported) {
    const c = e.checkpoint;
    const have = hashes.get(c.seq);
    if (have !== undefined && have !== c.hash) {
      failures.push({
        kind: "rollback",
        severity: "failure",
        seq: c.seq,
        line: e.line,
        detail: `Cannot verify audit record ${c.seq}: it differs from the one the exported ` +
          `checkpoint ${e.source}:${e.line} signed (an older or another copy of the log)`,
      });
    } else if (have === undefined && chain.ok && c.seq > chain.records) {
      failures.push({
        kind: "rollback",
        severity: "failure",
        seq: c.seq,
        line: e.line,
        detail: `Cannot verify audit record ${c.seq}: the log ends at seq ${chain.records}, ` +
          `but the exported checkpoint ${e.source}:${e.line} covers ${c.seq} records`,
      });
    }
  }
  const warnings = verdicts;
  const everyRecords = options.everyRecords ?? DEFAULT_CHECKPOINT_RECORDS;
  const covered = last === null ? 0 : Math.min(last.checkpoint.seq, chain.records);
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

/** The first checkpoint (by seq) the chain disagrees with, and the last one it agrees with. */
function firstMismatch(
  sorted: readonly SourcedCheckpoint[],
  hashes: ReadonlyMap<number, string>,
): { at: SourcedCheckpoint; lastGood: number | null } | null {
  let lastGood: number | null = null;
  for (const c of sorted) {
    const have = hashes.get(c.checkpoint.seq);
    if (have === undefined) continue; // beyond the verified chain
    if (have !== c.checkpoint.hash) return { at: c, lastGood };
    lastGood = c.checkpoint.seq;
  }
  return null;
}

/** The checkpoint a line holds, or why it cannot be trusted. */
function checkpointProblem(
  text: string,
  logId: string | null,
  trusted: readonly TrustedKey[],
): Checkpoint | string {
  const parsed = parseCheckpointLine(text);
  if (!parsed.ok) return `malformed (${parsed.reason})`;
  const c = parsed.checkpoint;
  if (logId !== null && c.log !== logId) return `it belongs to another log ("${c.log}")`;
  if (trusted.length === 0) return "no trusted public key";
  return checkCheckpointSignature(c, trusted) ?? c;
}

function firstLogId(lines: readonly string[]): string | null {
  for (const line of lines) {
    const parsed = parseCheckpointLine(line);
    if (parsed.ok) return parsed.checkpoint.log;
  }
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
