/**
 * The audit log writer: one per process, ordering records into a single hash
 * chain, durable before an append resolves (README.md, "The audit log").
 *
 * Durability. Appends are queued; one write and one `fdatasync` commit every
 * queued entry at once (group commit). While a batch is being written and
 * synced, new appends wait for the next batch. An append resolves only after the
 * batch holding it is synced. A deferred append ({@linkcode AppendOptions})
 * joins the next commit instead of starting one, so a call's intent and
 * outcome can share one `fdatasync`.
 *
 * Cost. A commit takes two trips through the event loop: waiting for the
 * lock and waiting for `fdatasync`. The size check, the write (one batch
 * lands in the page cache in microseconds) and unlocking are synchronous, so
 * a busy server does not push each small step of a commit behind a burst of
 * request handling. The lock itself is awaited, never taken synchronously: a
 * reader in this same process (`verifyAuditLog` takes a shared lock) would
 * otherwise block the event loop it needs to release that lock.
 *
 * Several processes. Each batch is written under an exclusive lock on the file
 * (`flock`). Under the lock the writer compares the file size with the size it
 * left behind; if another process appended meanwhile it re-reads the tail to
 * continue from the latest `seq` and `hash`. So writers in several processes
 * still produce one contiguous chain.
 *
 * Torn tails. A crash during a write can leave a partial last line. On open
 * (and whenever the tail changed under it) the writer reads only the tail,
 * finds the last line that parses and verifies, and repairs the rest (see
 * {@linkcode AuditRecovery}).
 *
 * Checkpoints. With `checkpoints` set, the writer signs the head of the chain
 * every 1000 records and every minute of activity into `checkpoints.jsonl`
 * (`_checkpoint_writer.ts`, `checkpoint.ts`), after the batch's sync and off
 * the append path: an append never waits for a checkpoint.
 *
 * Metrics. With `commitSeconds` set, each record's time from `append` to
 * its batch's sync is observed there (`/metrics`,
 * `loom_audit_commit_duration_seconds`): one clock read per append, kept in
 * the queue entry that exists anyway, and one per batch.
 *
 * @module
 */

import { join } from "node:path";
import { IntegrityError, LoomError } from "../../errors.ts";
import {
  checkRecordLine,
  isoTimestamp,
  type PreparedEntry,
  prepareEntry,
  sealEntry,
} from "./_format.ts";
import { readAt, syncDir, writeAll, writeAllSync } from "./_io.ts";
import {
  type CheckpointOptions,
  type CheckpointStats,
  CheckpointWriter,
} from "./_checkpoint_writer.ts";
import type { AuditEvent } from "./events.ts";
import { AUDIT_FILE_NAME, type AuditReceipt, GENESIS_HASH, MAX_RECORD_BYTES } from "./types.ts";
import type { HistogramSeries } from "../../_util/metrics.ts";

/** Options of {@linkcode AuditLog.open}. */
export interface AuditLogOptions {
  /** Most entries committed by one write and one sync. Default 4096. */
  maxBatchRecords?: number;
  /**
   * Largest damaged tail (in bytes) the writer repairs on its own. A crash
   * leaves at most one partial batch; anything larger is treated as tampering
   * or corruption and opening fails with an `IntegrityError`, so that evidence
   * is never silently cut away. Default 4 MiB.
   */
  maxRepairBytes?: number;
  /**
   * Sign checkpoints of the chain's head with this key and cadence (see
   * `_checkpoint_writer.ts`). Default: none (`loom run` sets them).
   */
  checkpoints?: CheckpointOptions;
  /**
   * Observe each record's commit latency (append to synced, in seconds)
   * here. Default: none.
   */
  commitSeconds?: HistogramSeries;
}

/** Options of {@linkcode AuditLog.append}. */
export interface AppendOptions {
  /**
   * Join the next commit instead of starting one. The record keeps its place
   * in the chain (records are sealed in append order) and is written with the
   * next append that does not defer, or by `flush()` or `close()`, whichever
   * comes first. Its promise resolves once that commit is synced.
   *
   * For records that need not be durable on their own before the caller goes
   * on, e.g. the intent of a tier 1 call, whose outcome follows (the gate's step 6
   * asks intent durability before side effects only from tier 2). Default false.
   */
  defer?: boolean;
}

/**
 * What a torn-tail repair did. The damaged bytes are first saved, unchanged,
 * to `savedAs` (a file next to the log, mode 0600), then the
 * `audit_recovery` record (fields `action: "recovered_torn_tail"`,
 * `bytes_removed`, `last_good_seq`, `saved_as`) is written over them and the
 * file cut after it. The record is written before the file is shortened, so a
 * crash during the repair leaves either the old damaged tail or the record:
 * the next open repairs again, and the damage is always on record.
 *
 * A torn write can only hit records no checkpoint covers (checkpoints follow
 * the sync), so a repair that cuts a checkpointed record is a loss, and
 * `loom audit verify` reports it (`rewritten`; `docs/security-requirements.md`, AUD-10).
 */
export interface AuditRecovery {
  /** `seq` of the `audit_recovery` record written. */
  readonly seq: number;
  /** `seq` of the last intact record before the damage (0 if none). */
  readonly lastGoodSeq: number;
  /** How many bytes were cut from the end of the file. */
  readonly bytesRemoved: number;
  /** File name (in the log directory) holding the removed bytes. */
  readonly savedAs: string;
}

/** Counters for benchmarks and health checks. */
export interface AuditLogStats {
  /** Records this writer wrote (recovery records included). */
  records: number;
  /** Batches committed (one write and one sync each). */
  batches: number;
  /** Torn-tail repairs this writer made. */
  recoveries: number;
  /** Batches that failed (their appends rejected). */
  failures: number;
}

interface Pending {
  readonly entry: PreparedEntry;
  readonly resolve: (receipt: AuditReceipt) => void;
  readonly reject: (error: unknown) => void;
  /** `performance.now()` at append, when commit latency is observed; else 0. */
  readonly at: number;
}

interface TailState {
  /** Offset just after the last intact line. */
  readonly end: number;
  readonly seq: number;
  readonly hash: string;
}

const DEFAULT_MAX_BATCH = 4096;
const DEFAULT_MAX_REPAIR = 4 * 1024 * 1024;
const TAIL_WINDOW = 64 * 1024;
const NEWLINE = 0x0a;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
/** Real paths of the logs open in this process: one writer each. */
const OPEN_LOGS = new Set<string>();

/**
 * The writer. Open with {@linkcode AuditLog.open}, append, and close (or use
 * `await using`).
 *
 * @example
 * ```ts
 * import { AuditLog } from "./log.ts";
 * const dir = await Deno.makeTempDir();
 * {
 *   await using log = await AuditLog.open(dir);
 *   const receipt = await log.append({ event: "agent_lifecycle", agent: "github", tool: null, action: "stop", transport: "stdio" });
 *   console.log(receipt.seq); // 1
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class AuditLog {
  readonly #dir: string;
  readonly #path: string;
  readonly #maxBatch: number;
  readonly #maxRepair: number;
  #file: Deno.FsFile | null = null;
  /** File size this writer left behind; -1 when unknown (forces a tail read). */
  #size = -1;
  #seq = 0;
  #hash = GENESIS_HASH;
  /** The head as of the last batch synced (or found on open): what a checkpoint may cover. */
  #durable: AuditReceipt = { seq: 0, hash: GENESIS_HASH };
  #queue: Pending[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** The last commit failed; cleared by the next one that succeeds. */
  #failing = false;
  #recovery: AuditRecovery | null = null;
  #checkpoints: CheckpointWriter | null = null;
  #stats: AuditLogStats = { records: 0, batches: 0, recoveries: 0, failures: 0 };
  readonly #commitSeconds: HistogramSeries | null;

  private constructor(
    key: string,
    maxBatch: number,
    maxRepair: number,
    commitSeconds: HistogramSeries | null,
  ) {
    this.#commitSeconds = commitSeconds;
    this.#dir = key;
    this.#path = join(key, AUDIT_FILE_NAME);
    this.#maxBatch = maxBatch;
    this.#maxRepair = maxRepair;
  }

  /**
   * Open (creating if needed) the log in `dir`: the directory with mode 0700,
   * `audit.jsonl` with mode 0600. Repairs a torn tail first.
   *
   * @param dir the log directory, e.g. `$LOOM_HOME/audit`
   * @param options batch and repair limits
   * @returns the writer
   * @throws {TypeError} when this process already has a writer for `dir`
   * @throws {RangeError} on an invalid option
   * @throws {IntegrityError} when the damaged tail exceeds `maxRepairBytes`
   * @throws {LoomError} `AUDIT_UNAVAILABLE` when the log cannot be opened or repaired
   */
  static async open(dir: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const maxBatch = options.maxBatchRecords ?? DEFAULT_MAX_BATCH;
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError("Cannot open audit log: maxBatchRecords must be a positive integer");
    }
    const maxRepair = options.maxRepairBytes ?? DEFAULT_MAX_REPAIR;
    if (!Number.isSafeInteger(maxRepair) || maxRepair < 0) {
      throw new RangeError("Cannot open audit log: maxRepairBytes must be a non-negative integer");
    }
    let key: string;
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      key = await Deno.realPath(dir);
    } catch (error) {
      throw unavailable("Cannot open audit log: cannot create its directory", error);
    }
    if (OPEN_LOGS.has(key)) {
      throw new TypeError("Cannot open audit log: it is already open in this process");
    }
    OPEN_LOGS.add(key);
    const log = new AuditLog(key, maxBatch, maxRepair, options.commitSeconds ?? null);
    try {
      await log.#start();
    } catch (error) {
      log.#dropHandle();
      OPEN_LOGS.delete(key);
      if (error instanceof IntegrityError) throw error;
      throw unavailable("Cannot open audit log: cannot read or repair it", error);
    }
    if (options.checkpoints !== undefined) {
      try {
        log.#checkpoints = await CheckpointWriter.open(key, options.checkpoints, log.last);
      } catch (error) {
        // The key or the log id is unusable (exposed, malformed): refuse to
        // run rather than keep a log nobody can anchor.
        log.#dropHandle();
        OPEN_LOGS.delete(key);
        throw error;
      }
    }
    return log;
  }

  /** Absolute path of `audit.jsonl`. */
  get path(): string {
    return this.#path;
  }

  /** The last record this writer knows of (`seq` 0 and the genesis hash when empty). */
  get last(): AuditReceipt {
    return { seq: this.#seq, hash: this.#hash };
  }

  /** The latest torn-tail repair this writer made, or null. */
  get recovery(): AuditRecovery | null {
    return this.#recovery;
  }

  /**
   * False once closed, and after a commit failed until one succeeds again.
   * True does not promise that the next write succeeds (a disk fills between
   * two writes); false means appends are known to fail now. The gate uses it
   * to make a tier 1 call's intent durable first while the log is failing.
   */
  get writable(): boolean {
    return !this.#closed && !this.#failing;
  }

  /** A snapshot of the counters. */
  get stats(): AuditLogStats {
    return { ...this.#stats };
  }

  /** The checkpoint writer's counters, or null when checkpoints are off. */
  get checkpointStats(): CheckpointStats | null {
    return this.#checkpoints?.stats ?? null;
  }

  /**
   * Write a checkpoint now if one is due by the cadence (the timer does this
   * on its own; tests with an injected clock call it). No-op without checkpoints.
   */
  async checkpointIfDue(): Promise<void> {
    await this.flush();
    await this.#checkpoints?.checkpointIfDue();
  }

  /**
   * Append one entry. Resolves once the record is written and synced to disk.
   * A rejected append may still have reached the file (the write succeeded but
   * the sync failed); a resolved one always has.
   *
   * @param entry one of the events of `events.ts`
   * @param options `defer: true` to join the next commit instead of starting one
   * @returns the record's `seq` and `hash`
   * @throws {TypeError} (as a rejection) on a reserved field name, an unknown event or a non-JSON value
   * @throws {RangeError} (as a rejection) when the record exceeds 1 MiB
   * @throws {LoomError} (as a rejection) `AUDIT_UNAVAILABLE` when the log is closed or
   *   the write or sync failed; callers must then fail closed
   */
  append(entry: AuditEvent, options?: AppendOptions): Promise<AuditReceipt> {
    if (this.#closed) {
      return Promise.reject(
        new LoomError("AUDIT_UNAVAILABLE", "Cannot append to audit log: it is closed"),
      );
    }
    let prepared: PreparedEntry;
    try {
      prepared = prepareEntry(entry, isoTimestamp(Date.now()));
    } catch (error) {
      return Promise.reject(error);
    }
    const defer = options?.defer === true;
    const at = this.#commitSeconds === null ? 0 : performance.now();
    return new Promise<AuditReceipt>((resolve, reject) => {
      this.#queue.push({ entry: prepared, resolve, reject, at });
      if (!defer && this.#draining === null) this.#draining = this.#drain();
    });
  }

  /** Commit every append made so far (deferred ones included) and wait until each has settled. */
  async flush(): Promise<void> {
    if (this.#draining === null && this.#queue.length > 0) this.#draining = this.#drain();
    while (this.#draining !== null) await this.#draining;
  }

  /**
   * Commit what is queued, then release the file. Later appends reject with
   * `AUDIT_UNAVAILABLE`. Safe to call more than once.
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      this.#closing = this.flush().finally(async () => {
        // The final head, if the last checkpoint does not cover it.
        await this.#checkpoints?.close(this.#durable);
        this.#dropHandle();
        OPEN_LOGS.delete(this.#dir);
      });
    }
    return this.#closing;
  }

  /** Same as {@linkcode AuditLog.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #start(): Promise<void> {
    this.#file = await Deno.open(this.#path, {
      read: true,
      append: true,
      create: true,
      mode: 0o600,
    });
    await syncDir(this.#dir);
    const file = this.#file;
    await file.lock(true);
    try {
      this.#size = await this.#resync(file, (await file.stat()).size);
      this.#durable = this.last;
    } finally {
      await file.unlock();
    }
  }

  async #drain(): Promise<void> {
    // Let appends made in the same tick join the first batch.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        if (await this.#commit(this.#queue.splice(0, this.#maxBatch))) {
          this.#durable = this.last;
          this.#checkpoints?.committed(this.#durable);
        }
      }
    } finally {
      this.#draining = null;
    }
  }

  /** Write and sync one batch; settles every append in it, never throws. True when synced. */
  async #commit(batch: Pending[]): Promise<boolean> {
    const receipts: AuditReceipt[] = [];
    try {
      const file = await this.#handle();
      await file.lock(true);
      try {
        const info = file.statSync();
        // An unlinked file still accepts writes that nobody will ever read.
        if (info.nlink === 0) throw new Deno.errors.NotFound("The audit log file was deleted");
        let size = info.size;
        if (size !== this.#size) {
          this.#size = -1;
          size = await this.#resync(file, size);
        }
        let seq = this.#seq;
        let prev = this.#hash;
        let text = "";
        for (const pending of batch) {
          seq++;
          const sealed = sealEntry(pending.entry, seq, prev);
          text += sealed.line;
          prev = sealed.hash;
          receipts.push({ seq, hash: prev });
        }
        const bytes = ENCODER.encode(text);
        this.#size = -1;
        writeAllSync(file, bytes);
        // The chain continues from these records from now on, in this
        // process and (through the file) in others, whether or not the
        // sync below succeeds: a failed sync rejects the batch, and its
        // records may still be on disk (see `append`).
        this.#seq = seq;
        this.#hash = prev;
        this.#size = size + bytes.length;
      } finally {
        try {
          file.unlockSync();
        } catch {
          // Closing the file is the other way to release the lock.
          this.#dropHandle();
        }
      }
      // Sync outside the lock: another process may append meanwhile (its own
      // sync covers our bytes too); ours resolve only once this sync is done.
      await file.syncData();
      this.#stats.records += batch.length;
      this.#stats.batches++;
      this.#failing = false;
    } catch (error) {
      this.#stats.failures++;
      this.#failing = true;
      this.#dropHandle();
      const failure = unavailable("Cannot append to audit log: write failed", error);
      for (const pending of batch) pending.reject(failure);
      return false;
    }
    const observed = this.#commitSeconds;
    if (observed !== null) {
      const now = performance.now();
      for (let i = 0; i < batch.length; i++) observed.observe((now - batch[i].at) / 1000);
    }
    for (let i = 0; i < batch.length; i++) batch[i].resolve(receipts[i]);
    return true;
  }

  /** The open file, reopened after a failure. Never recreates a vanished log. */
  async #handle(): Promise<Deno.FsFile> {
    if (this.#file === null) {
      this.#file = await Deno.open(this.#path, { read: true, append: true });
      this.#size = -1;
    }
    return this.#file;
  }

  #dropHandle(): void {
    const file = this.#file;
    this.#file = null;
    this.#size = -1;
    if (file !== null) {
      try {
        file.close();
      } catch {
        // Already closed or broken: nothing left to release.
      }
    }
  }

  /**
   * Under the lock: learn the latest `seq` and `hash` from the tail, repairing
   * a torn tail. Returns the file size afterwards.
   */
  async #resync(file: Deno.FsFile, size: number): Promise<number> {
    const tail = await scanTail(file, size, this.#maxRepair);
    if (tail.end === size) {
      this.#seq = tail.seq;
      this.#hash = tail.hash;
      return size;
    }
    return await this.#repair(file, size, tail);
  }

  async #repair(file: Deno.FsFile, size: number, tail: TailState): Promise<number> {
    const removed = size - tail.end;
    const seq = tail.seq + 1;
    // 1. Keep the damaged bytes as evidence, durably, before touching the log.
    const damaged = await readAt(file, tail.end, removed);
    const savedAs = `${AUDIT_FILE_NAME}.torn-${seq}-${Date.now()}`;
    const saved = await Deno.open(join(this.#dir, savedAs), {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    try {
      await writeAll(saved, damaged);
      await saved.sync();
    } finally {
      saved.close();
    }
    await syncDir(this.#dir);
    // 2. Write the recovery record over the damage, then cut the file after it.
    // Writing first means a crash here leaves the damage or the record, never
    // a clean-looking tail with no trace of the repair.
    const sealed = sealEntry(
      prepareEntry({
        event: "audit_recovery",
        agent: "loom",
        tool: null,
        action: "recovered_torn_tail",
        bytes_removed: removed,
        last_good_seq: tail.seq,
        saved_as: savedAs,
      }, isoTimestamp(Date.now())),
      seq,
      tail.hash,
    );
    const bytes = ENCODER.encode(sealed.line);
    const writer = await Deno.open(this.#path, { write: true });
    try {
      await writer.seek(tail.end, Deno.SeekMode.Start);
      await writeAll(writer, bytes);
      await writer.truncate(tail.end + bytes.length);
      await writer.syncData();
    } finally {
      writer.close();
    }
    this.#seq = seq;
    this.#hash = sealed.hash;
    this.#recovery = { seq, lastGoodSeq: tail.seq, bytesRemoved: removed, savedAs };
    this.#stats.records++;
    this.#stats.recoveries++;
    return tail.end + bytes.length;
  }
}

function unavailable(message: string, cause: unknown): LoomError {
  return new LoomError("AUDIT_UNAVAILABLE", message, { cause });
}

/**
 * Find the last intact line by reading backwards from the end in a growing
 * window. Never reads more than the repair limit plus one record.
 */
async function scanTail(file: Deno.FsFile, size: number, maxRepair: number): Promise<TailState> {
  const cap = Math.min(size, maxRepair + MAX_RECORD_BYTES + 2);
  let window = Math.min(size, TAIL_WINDOW);
  for (;;) {
    const start = size - window;
    const bytes = await readAt(file, start, window);
    const found = lastIntactLine(bytes, start === 0);
    if (found !== null) {
      const tail = { end: start + found.end, seq: found.seq, hash: found.hash };
      if (size - tail.end > maxRepair) break;
      return tail;
    }
    if (window >= cap) break;
    window = Math.min(cap, window * 2);
  }
  throw new IntegrityError(
    `Cannot open audit log: the damaged tail is larger than ${maxRepair} bytes; ` +
      "run `loom audit verify`",
  );
}

/**
 * The end offset, `seq` and `hash` of the last line in `bytes` that verifies, or
 * null when the window must grow to decide. `atStart` says `bytes` begins at
 * offset 0, so its first line is complete.
 */
function lastIntactLine(
  bytes: Uint8Array,
  atStart: boolean,
): { end: number; seq: number; hash: string } | null {
  const none = { end: 0, seq: 0, hash: GENESIS_HASH };
  if (bytes.length === 0) return none;
  let pos = bytes.length;
  if (bytes[pos - 1] !== NEWLINE) {
    const nl = bytes.lastIndexOf(NEWLINE, pos - 1);
    if (nl < 0) return atStart ? none : null;
    pos = nl + 1;
  }
  // `pos` is just after a newline: the end of a complete line.
  while (pos > 0) {
    // Careful: a negative fromIndex would search from the end.
    const before = pos >= 2 ? bytes.lastIndexOf(NEWLINE, pos - 2) : -1;
    if (before < 0 && !atStart) return null;
    const check = checkRecordLine(DECODER.decode(bytes.subarray(before + 1, pos - 1)));
    if (check.ok) return { end: pos, seq: check.record.seq, hash: check.record.hash };
    pos = before + 1;
  }
  return none;
}
