/**
 * When the next audit checkpoint is due (`_checkpoint_writer.ts`): by count,
 * by time with activity, and by the idle heartbeat. Pure, so tests drive it
 * with any clock.
 *
 * @module
 */

/** When the next checkpoint is due. */
export class CheckpointCadence {
  readonly everyRecords: number;
  readonly everyMs: number;
  /** Idle heartbeat interval, or null for none. */
  readonly heartbeatMs: number | null;
  #lastSeq: number;
  #lastAt: number;
  #retryAt = -Infinity;

  constructor(
    everyRecords: number,
    everyMs: number,
    lastSeq: number,
    lastAt: number,
    heartbeatMs: number | null = null,
  ) {
    if (!Number.isSafeInteger(everyRecords) || everyRecords < 1) {
      throw new RangeError(
        "Cannot set checkpoint cadence: everyRecords must be a positive integer",
      );
    }
    if (!Number.isFinite(everyMs) || everyMs <= 0) {
      throw new RangeError("Cannot set checkpoint cadence: everyMs must be positive");
    }
    if (heartbeatMs !== null && (!Number.isFinite(heartbeatMs) || heartbeatMs < 1000)) {
      throw new RangeError("Cannot set checkpoint cadence: heartbeatMs must be at least 1000");
    }
    this.everyRecords = everyRecords;
    this.everyMs = everyMs;
    this.heartbeatMs = heartbeatMs;
    this.#lastSeq = lastSeq;
    this.#lastAt = lastAt;
  }

  /** `seq` of the last checkpoint written. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Whether a checkpoint of head `seq` is due at `now`. */
  due(seq: number, now: number): boolean {
    if (now < this.#retryAt) return false;
    if (this.heartbeatMs !== null && now - this.#lastAt >= this.heartbeatMs) return true;
    if (seq <= this.#lastSeq) return false;
    return seq - this.#lastSeq >= this.everyRecords || now - this.#lastAt >= this.everyMs;
  }

  /** When a checkpoint of head `seq` falls due by time alone, or null when none will. */
  dueAt(seq: number): number | null {
    let at = Infinity;
    if (seq > this.#lastSeq) at = this.#lastAt + this.everyMs;
    if (this.heartbeatMs !== null) at = Math.min(at, this.#lastAt + this.heartbeatMs);
    return at === Infinity ? null : Math.max(at, this.#retryAt);
  }

  /** A checkpoint of `seq` was written at `now`. */
  written(seq: number, now: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq;
    this.#lastAt = now;
    this.#retryAt = -Infinity;
  }

  /** A checkpoint failed at `now`: try again one interval later. */
  failed(now: number): void {
    this.#retryAt = now + Math.min(this.everyMs, this.heartbeatMs ?? Infinity);
  }
}
