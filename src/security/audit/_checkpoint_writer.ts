/**
 * The writer side of signed checkpoints (`checkpoint.ts`): when one is due,
 * and appending it to `checkpoints.jsonl`, durably, without slowing appends.
 *
 * Cadence. A checkpoint is due once `everyRecords` records (default 1000)
 * were committed since the last one, or once `everyMs` (default 60 s) passed
 * since the last one and at least one record was committed since; and, with
 * a heartbeat (default every 10 minutes), also when the log was idle that
 * long, so that a stretch without checkpoints is itself visible to
 * `loom audit verify`. The writer also checkpoints the head it finds on open
 * (records a killed process left uncovered) and the head on close.
 *
 * Off the call path. The audit writer tells this one the head after each
 * batch it committed and synced (so a checkpoint never covers a record that
 * is not durable); the records are read back and hashed into the Merkle tree
 * (`_log_follower.ts`), and the checkpoint is signed and written, with its own
 * `fdatasync`, on the side: no append waits for it. A timer covers the quiet
 * after a burst and the heartbeat. A failed checkpoint write loses no record:
 * it is reported (`onProblem`, stderr by default), counted, and tried again
 * one interval later.
 *
 * Several processes. The checkpoint file is appended under an exclusive lock;
 * each new checkpoint names the body of the last one in the file (`prev`),
 * and a writer whose head is behind the file's last checkpoint writes none.
 *
 * Never inconsistent. A writer signs nothing when the log no longer holds
 * what the last checkpoint covers (it is shorter, or its records differ): it
 * reports the problem and stops checkpointing, leaving the evidence for
 * `loom audit verify` rather than signing over it.
 *
 * @module
 */

import { join } from "node:path";
import { bodyDigest, CHECKPOINT_FILE_NAME, formatCheckpointLine } from "./checkpoint.ts";
import { type CheckpointSigner, openCheckpointSigner } from "./checkpoint_keys.ts";
import { isoTimestamp } from "./_format.ts";
import { syncDir, writeAll } from "./_io.ts";
import { LogFollower, toBase64 } from "./_log_follower.ts";
import { CheckpointCadence } from "./_checkpoint_cadence.ts";
import { openLogId, readLastStored, repairAndReadTail } from "./_checkpoint_file.ts";
import type { AuditReceipt } from "./types.ts";

/** Default records between checkpoints. */
export const DEFAULT_CHECKPOINT_RECORDS = 1000;
/** Default longest time (ms) a committed record waits for a checkpoint. */
export const DEFAULT_CHECKPOINT_MS = 60_000;
/** Default idle heartbeat (ms): a checkpoint at least this often while open. */
export const DEFAULT_HEARTBEAT_MS = 600_000;

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
  /** Checkpoint an idle log this often (ms); null for no heartbeat. Default 600 000. */
  heartbeatMs?: number | null;
  /** Write due checkpoints from a timer when the log goes quiet. Default true. */
  timer?: boolean;
  /** Told about a checkpoint that could not be written. Default: a line on stderr. */
  onProblem?: (message: string) => void;
}

/** Counters of the checkpoint writer. */
export interface CheckpointStats {
  written: number;
  failures: number;
}

const ENCODER = new TextEncoder();

/** Appends due checkpoints of one log. Created by `AuditLog.open`. */
export class CheckpointWriter {
  readonly #path: string;
  readonly #dir: string;
  readonly #logId: string;
  readonly #signer: CheckpointSigner;
  readonly #cadence: CheckpointCadence;
  readonly #follower: LogFollower;
  readonly #opened: string;
  readonly #now: () => number;
  readonly #useTimer: boolean;
  readonly #onProblem: (message: string) => void;
  #head: AuditReceipt;
  #file: Deno.FsFile | null = null;
  #writing: Promise<void> | null = null;
  #timer: number | null = null;
  #closed = false;
  /** Set when the log no longer matches what was signed: nothing more is signed. */
  #halted = false;
  #stats: CheckpointStats = { written: 0, failures: 0 };

  private constructor(
    dir: string,
    logId: string,
    signer: CheckpointSigner,
    cadence: CheckpointCadence,
    follower: LogFollower,
    head: AuditReceipt,
    options: CheckpointOptions,
  ) {
    this.#dir = dir;
    this.#path = join(dir, CHECKPOINT_FILE_NAME);
    this.#logId = logId;
    this.#signer = signer;
    this.#cadence = cadence;
    this.#follower = follower;
    this.#head = head;
    this.#now = options.now ?? Date.now;
    this.#opened = isoTimestamp(this.#now());
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
    const { last, withHints } = await repairAndReadTail(path);
    const now = (options.now ?? Date.now)();
    const lastSeq = last?.checkpoint.size ?? 0;
    const lastAt = last === null ? now : Math.min(now, Date.parse(last.checkpoint.time));
    const heartbeat = options.heartbeatMs === undefined
      ? DEFAULT_HEARTBEAT_MS
      : options.heartbeatMs;
    const cadence = new CheckpointCadence(
      options.everyRecords ?? DEFAULT_CHECKPOINT_RECORDS,
      options.everyMs ?? DEFAULT_CHECKPOINT_MS,
      lastSeq,
      lastAt,
      heartbeat,
    );
    const follower = await LogFollower.open(dir, withHints);
    const writer = new CheckpointWriter(dir, logId, signer, cadence, follower, head, options);
    if (head.seq < lastSeq) {
      writer.#halt(
        `the log ends at seq ${head.seq}, but its last checkpoint covers ${lastSeq} records`,
      );
    } else if (head.seq > lastSeq) await writer.#write();
    writer.#arm();
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
    if (!this.#useTimer || this.#timer !== null || this.#closed || this.#halted) return;
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

  #halt(why: string): void {
    this.#halted = true;
    this.#disarm();
    this.#onProblem(
      `Cannot sign audit checkpoints any more: ${why}; ` +
        `run "loom audit verify" (records are still appended)`,
    );
  }

  /** Sign and append a checkpoint of the current head; never throws. */
  async #write(): Promise<void> {
    if (this.#halted) return;
    const head = this.#head;
    const now = this.#now();
    try {
      try {
        await this.#follower.advanceTo(head.seq);
      } catch (error) {
        this.#halt(error instanceof Error ? error.message : String(error));
        return;
      }
      const follower = this.#follower;
      const file = await this.#handle();
      await file.lock(true);
      try {
        const last = await readLastStored(file);
        if (last !== null && last.checkpoint.size > follower.size) {
          // Another process covers more of the log already.
          this.#cadence.written(head.seq, now);
          return;
        }
        const root = toBase64(follower.root());
        if (
          last !== null && last.checkpoint.size === follower.size && last.checkpoint.root !== root
        ) {
          this.#halt(`the records up to seq ${follower.size} differ from the ones last signed`);
          return;
        }
        const checkpoint = this.#signer.sign({
          log: this.#logId,
          size: follower.size,
          root,
          head: follower.head,
          time: isoTimestamp(now),
          opened: this.#opened,
          prev: last === null ? null : bodyDigest(last.checkpoint.body),
          heartbeat: this.#cadence.heartbeatMs === null
            ? null
            : Math.round(this.#cadence.heartbeatMs / 1000),
        });
        const hints = last !== null && last.checkpoint.size === follower.size
          ? {}
          : { offset: follower.offset, range: follower.range() };
        await writeAll(file, ENCODER.encode(formatCheckpointLine(checkpoint, hints)));
        await file.syncData();
      } finally {
        await file.unlock();
      }
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
      this.#file = await Deno.open(this.#path, {
        read: true,
        append: true,
        create: true,
        mode: 0o600,
      });
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
