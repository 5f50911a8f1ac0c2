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
 * A chain alone does not detect removal of the last records, a consistent
 * rewrite or rollback to an old copy; signed checkpoints over `(seq, hash)`
 * will (`docs/security-requirements.md`, AUD-10).
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
export { type AuditFilter, readAuditRecords, tailAuditLog, type TailOptions } from "./query.ts";
