/**
 * The writer side of signed checkpoints (`checkpoint.ts`): when one is due,
 * and appending it to `checkpoints.jsonl`, durably, without slowing appends.
 *
 * Cadence. A checkpoint is due once `everyRecords` records (default 1000)
 * were committed since the last one, or once `everyMs` (default 60 s) passed
 * since the last one and at least one record was committed since: an idle log
 * gets no new checkpoints, an active one at least one a minute. The writer
 * also checkpoints the head it finds on open (records a killed process left
 * uncovered) and the head on close.
 *
 * Off the call path. The audit writer tells this one the head after each
 * batch it committed and synced (so a checkpoint never covers a record that
 * is not durable); the checkpoint is signed and written, with its own
 * `fdatasync`, on the side: no append waits for it. A timer covers the quiet
 * after a burst. A failed checkpoint write loses no record: it is reported
 * (`onProblem`, stderr by default), counted, and tried again one interval
 * later.
 *
 * @module
 */

import { join } from "node:path";
import { readPrivateFile, writeFileExclusive } from "../../store/mod.ts";
import {
  CHECKPOINT_FILE_NAME,
  type CheckpointSigner,
  formatCheckpointLine,
  isLogId,
  LOG_ID_FILE_NAME,
  newLogId,
  openCheckpointSigner,
  parseCheckpointLine,
} from "./checkpoint.ts";
import { isoTimestamp } from "./_format.ts";
import { readAt, syncDir, writeAll } from "./_io.ts";
import type { AuditReceipt } from "./types.ts";

/** Default records between checkpoints. */
export const DEFAULT_CHECKPOINT_RECORDS = 1000;
/** Default longest time (ms) a committed record waits for a checkpoint. */
export const DEFAULT_CHECKPOINT_MS = 60_000;

/** Checkpoint settings of `AuditLog.open`. */
export interface CheckpointOptions {
  /** The Ed25519 signing key file, created 0600 on first use (`$LOOM_HOME/keys/audit-signing.key`). */
  keyFile: string;
  /** Records between checkpoints. Default 1000. */
  everyRecords?: number;
  /** Most milliseconds between a committed record and a checkpoint covering it. Default 60 000. */
  everyMs?: number;
  /** The clock (epoch ms). Default `Date.now`; tests inject one. */
  now?: () => number;
  /** Write due checkpoints from a timer when the log goes quiet. Default true. */
  timer?: boolean;
  /** Told about a checkpoint that could not be written. Default: a line on stderr. */
  onProblem?: (message: string) => void;
}

/** When the next checkpoint is due; pure, so tests drive it with any clock. */
export class CheckpointCadence {
  readonly everyRecords: number;
  readonly everyMs: number;
  #lastSeq: number;
  #lastAt: number;
  #retryAt = -Infinity;

  constructor(everyRecords: number, everyMs: number, lastSeq: number, lastAt: number) {
    if (!Number.isSafeInteger(everyRecords) || everyRecords < 1) {
      throw new RangeError(
        "Cannot set checkpoint cadence: everyRecords must be a positive integer",
      );
    }
    if (!Number.isFinite(everyMs) || everyMs <= 0) {
      throw new RangeError("Cannot set checkpoint cadence: everyMs must be positive");
    }
    this.everyRecords = everyRecords;
    this.everyMs = everyMs;
    this.#lastSeq = lastSeq;
    this.#lastAt = lastAt;
  }

  /** `seq` of the last checkpoint written. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Whether a checkpoint of head `seq` is due at `now`. */
  due(seq: number, now: number): boolean {
    if (seq <= this.#lastSeq || now < this.#retryAt) return false;
    return seq - this.#lastSeq >= this.everyRecords || now - this.#lastAt >= this.everyMs;
  }

  /** When a checkpoint of head `seq` falls due by time alone, or null when none will. */
  dueAt(seq: number): number | null {
    if (seq <= this.#lastSeq) return null;
    return Math.max(this.#lastAt + this.everyMs, this.#retryAt);
  }

  /** A checkpoint of `seq` was written at `now`. */
  written(seq: number, now: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq;
    this.#lastAt = now;
    this.#retryAt = -Infinity;
  }

  /** A checkpoint failed at `now`: try again one interval later. */
  failed(now: number): void {
    this.#retryAt = now + this.everyMs;
  }
}

/** Counters of the checkpoint writer. */
export interface CheckpointStats {
  written: number;
  failures: number;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const TAIL_BYTES = 64 * 1024;

/** Appends due checkpoints of one log. Created by `AuditLog.open`. */
export class CheckpointWriter {
  readonly #path: string;
  readonly #dir: string;
  readonly #logId: string;
  readonly #signer: CheckpointSigner;
  readonly #cadence: CheckpointCadence;
  readonly #now: () => number;
  readonly #useTimer: boolean;
  readonly #onProblem: (message: string) => void;
  #head: AuditReceipt;
  #file: Deno.FsFile | null = null;
  #writing: Promise<void> | null = null;
  #timer: number | null = null;
  #closed = false;
  #stats: CheckpointStats = { written: 0, failures: 0 };

  private constructor(
    dir: string,
    logId: string,
    signer: CheckpointSigner,
    cadence: CheckpointCadence,
    head: AuditReceipt,
    options: CheckpointOptions,
  ) {
    this.#dir = dir;
    this.#path = join(dir, CHECKPOINT_FILE_NAME);
    this.#logId = logId;
    this.#signer = signer;
    this.#cadence = cadence;
    this.#head = head;
    this.#now = options.now ?? Date.now;
    this.#useTimer = options.timer ?? true;
    this.#onProblem = options.onProblem ?? reportOnStderr;
  }

  /**
   * Load (or create) the key and the log id, read the last checkpoint, and
   * checkpoint `head` at once if the last one does not cover it.
   */
  static async open(
    dir: string,
    options: CheckpointOptions,
    head: AuditReceipt,
  ): Promise<CheckpointWriter> {
    const signer = await openCheckpointSigner(options.keyFile);
    const logId = await openLogId(dir);
    const path = join(dir, CHECKPOINT_FILE_NAME);
    const last = await repairAndReadLast(path);
    const now = (options.now ?? Date.now)();
    const lastSeq = last?.seq ?? 0;
    const lastAt = last === null ? now : Math.min(now, Date.parse(last.time));
    const cadence = new CheckpointCadence(
      options.everyRecords ?? DEFAULT_CHECKPOINT_RECORDS,
      options.everyMs ?? DEFAULT_CHECKPOINT_MS,
      lastSeq,
      lastAt,
    );
    const writer = new CheckpointWriter(dir, logId, signer, cadence, head, options);
    if (head.seq > lastSeq) await writer.#write();
    return writer;
  }

  /** The log's id. */
  get logId(): string {
    return this.#logId;
  }

  /** A snapshot of the counters. */
  get stats(): CheckpointStats {
    return { ...this.#stats };
  }

  /** `seq` of the last checkpoint this writer wrote or found. */
  get lastSeq(): number {
    return this.#cadence.lastSeq;
  }

  /**
   * A batch up to `head` is committed and synced. Starts a checkpoint when
   * one is due (without waiting for it), else makes sure the timer will.
   */
  committed(head: AuditReceipt): void {
    if (this.#closed) return;
    this.#head = head;
    if (this.#cadence.due(head.seq, this.#now())) this.#start();
    else this.#arm();
  }

  /** Write a checkpoint now if one is due; resolves when it is written (or failed). */
  async checkpointIfDue(): Promise<void> {
    if (this.#writing !== null) await this.#writing;
    if (!this.#closed && this.#cadence.due(this.#head.seq, this.#now())) {
      this.#start();
      await this.#writing;
    }
  }

  /** Checkpoint the final head (if not covered), stop the timer and release the file. */
  async close(head: AuditReceipt): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    if (this.#writing !== null) await this.#writing;
    this.#head = head;
    if (head.seq > this.#cadence.lastSeq) await this.#write();
    const file = this.#file;
    this.#file = null;
    try {
      file?.close();
    } catch {
      // Already closed.
    }
  }

  #start(): void {
    if (this.#writing !== null) return;
    this.#disarm();
    this.#writing = this.#write().finally(() => {
      this.#writing = null;
      if (!this.#closed) this.#arm();
    });
  }

  #arm(): void {
    if (!this.#useTimer || this.#timer !== null || this.#closed) return;
    const at = this.#cadence.dueAt(this.#head.seq);
    if (at === null) return;
    const timer = setTimeout(() => {
      this.#timer = null;
      this.checkpointIfDue().catch(() => {});
    }, Math.max(0, at - this.#now())) as unknown as number;
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Sign and append a checkpoint of the current head; never throws. */
  async #write(): Promise<void> {
    const head = this.#head;
    const now = this.#now();
    try {
      const checkpoint = this.#signer.sign(this.#logId, head.seq, head.hash, isoTimestamp(now));
      const file = await this.#handle();
      await writeAll(file, ENCODER.encode(formatCheckpointLine(checkpoint)));
      await file.syncData();
      this.#cadence.written(head.seq, now);
      this.#stats.written++;
    } catch (error) {
      this.#stats.failures++;
      this.#cadence.failed(now);
      const file = this.#file;
      this.#file = null;
      try {
        file?.close();
      } catch {
        // Broken handle: reopened next time.
      }
      const reason = error instanceof Error ? error.message : String(error);
      this.#onProblem(
        `Cannot write audit checkpoint at seq ${head.seq}: ${reason}; ` +
          `no record is lost, the next checkpoint is tried in ${this.#cadence.everyMs} ms`,
      );
    }
  }

  async #handle(): Promise<Deno.FsFile> {
    if (this.#file === null) {
      this.#file = await Deno.open(this.#path, { append: true, create: true, mode: 0o600 });
      await syncDir(this.#dir);
    }
    return this.#file;
  }
}

function reportOnStderr(message: string): void {
  try {
    Deno.stderr.writeSync(ENCODER.encode(`loom: ${message}\n`));
  } catch {
    // No stderr: the failure stays counted in the writer's stats.
  }
}

/** Read the log's id, creating it (0600, exclusively) when there is none. */
async function openLogId(dir: string): Promise<string> {
  const path = join(dir, LOG_ID_FILE_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    const bytes = await readPrivateFile(path, "audit log id", { maxBytes: 256 });
    if (bytes !== null) {
      const id = DECODER.decode(bytes).trim();
      if (!isLogId(id)) throw new TypeError(`Cannot use audit log id "${path}": malformed`);
      return id;
    }
    await writeFileExclusive(path, ENCODER.encode(newLogId() + "\n"));
  }
  throw new Deno.errors.NotFound(`Cannot read audit log id "${path}"`);
}

/**
 * The last checkpoint of the file (by position; null when none), after
 * cutting a torn last line a crash left (the checkpoint it held is simply not
 * there; the records it covered are in the log).
 */
async function repairAndReadLast(
  path: string,
): Promise<{ seq: number; hash: string; time: string } | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const size = (await file.stat()).size;
    if (size === 0) return null;
    const start = Math.max(0, size - TAIL_BYTES);
    const bytes = await readAt(file, start, size - start);
    let end = bytes.length;
    if (bytes[end - 1] !== 0x0a) {
      const nl = bytes.lastIndexOf(0x0a);
      if (nl < 0 && start > 0) return null;
      end = nl + 1;
      await file.truncate(start + end);
      await file.syncData();
    }
    const lines = DECODER.decode(bytes.subarray(0, end)).split("\n");
    for (let i = lines.length - 1; i >= (start === 0 ? 0 : 1); i--) {
      const parsed = parseCheckpointLine(lines[i]);
      if (parsed.ok) return parsed.checkpoint;
    }
    return null;
  } finally {
    file.close();
  }
}
