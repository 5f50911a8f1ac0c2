/**
 * The tamper-evident audit log (README.md, "The audit log"): append-only JSON Lines in
 * `<dir>/audit.jsonl`, one hash-chained record per line, durable (fsynced,
 * with group commit) before an append resolves.
 *
 * Each record carries `seq` (1-based, contiguous), `ts`, `event`, `agent`,
 * `tool`, the event fields, `prev` (the previous record's hash, 64 zeros for
 * the first) and `hash`: hex SHA-256 over the canonical JSON of the record
 * without `hash`. On disk `hash` is the last member, so the hash input is the
 * line minus its fixed-size `,"hash":"…"` suffix (see `_format.ts`).
 *
 * - {@linkcode AuditLog}: the single writer of a process; safe with writers in
 *   other processes; repairs a torn tail on open and records the repair.
 * - {@linkcode verifyAuditLog}: streaming check naming the first bad record and
 *   the damage (`modified`, `deleted`, `reordered`, `chain_broken`, `malformed`,
 *   `truncated`).
 * - {@linkcode readAuditRecords} and {@linkcode tailAuditLog}: `audit show` and
 *   `audit tail -f`.
 * - {@linkcode RefusalCoalescer}: refusals get their own record within a
 *   per-client, per-window budget; the rest are counted into
 *   `refusal_summary` records, so no client can fill the disk.
 *
 * - Signed checkpoints (`checkpoint.ts`): with `checkpoints` set, the writer
 *   signs notes of (log id, size, Merkle root, head hash, time, previous
 *   checkpoint) with an Ed25519 key kept outside the log into
 *   `checkpoints.jsonl`, also as an idle heartbeat; {@linkcode checkAuditLog}
 *   checks the chain, the Merkle roots and every checkpoint (and exported
 *   ones) and returns typed verdicts (`docs/security-requirements.md`, AUD-10,
 *   AUD-12 to AUD-15). `merkle.ts` gives inclusion and consistency proofs.
 *
 * @example
 * ```ts
 * import { AuditLog, readAuditRecords, verifyAuditLog } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using log = await AuditLog.open(dir);
 *   await log.append({ event: "agent_lifecycle", agent: "github", tool: null, action: "stop", transport: "stdio" });
 *   await log.append({ event: "sandbox_lifecycle", agent: "github", tool: null, action: "spawn", detail: "deno", pid: null });
 * }
 * const report = await verifyAuditLog(dir);
 * console.log(report.ok, report.lastSeq); // true 2
 * const stops = await readAuditRecords(dir, { event: "agent_lifecycle" });
 * console.log(stops[0].action); // "stop"
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./events.ts";
export {
  AUDIT_FILE_NAME,
  type AuditDamage,
  type AuditEntryInput,
  type AuditProblem,
  type AuditReceipt,
  type AuditRecord,
  GENESIS_HASH,
  MAX_RECORD_BYTES,
  type VerifyReport,
} from "./types.ts";
export { AuditLog, type AuditLogOptions, type AuditLogStats, type AuditRecovery } from "./log.ts";
export {
  OVERFLOW_KEY,
  type Refusal,
  RefusalCoalescer,
  type RefusalKind,
  type RefusalOptions,
  type RefusalStats,
  UNKNOWN_TOOL_KEY,
} from "./refusals.ts";
export { verifyAuditLog, type VerifyOptions, type VerifyProgress } from "./verify.ts";
export {
  type Checkpoint,
  CHECKPOINT_FILE_NAME,
  type CheckpointBody,
  formatCheckpointLine,
  LOG_ID_FILE_NAME,
  parseCheckpointLine,
  parseExported,
  parseNote,
} from "./checkpoint.ts";
export {
  openCheckpointSigner,
  publicKeyFileOf,
  readTrustedKey,
  type TrustedKey,
} from "./checkpoint_keys.ts";
export { CheckpointCadence } from "./_checkpoint_cadence.ts";
export {
  type CheckpointOptions,
  type CheckpointStats,
  DEFAULT_CHECKPOINT_MS,
  DEFAULT_CHECKPOINT_RECORDS,
  DEFAULT_HEARTBEAT_MS,
} from "./_checkpoint_writer.ts";
export {
  type AuditCheckReport,
  type AuditVerdict,
  type AuditVerdictKind,
  checkAuditLog,
  type CheckOptions,
} from "./check.ts";
export {
  type AuditFilter,
  auditRecordMatches,
  readAuditRecords,
  tailAuditLog,
  type TailOptions,
} from "./query.ts";
