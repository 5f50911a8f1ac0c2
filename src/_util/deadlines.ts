/**
 * Many deadlines on one timer. A server under load starts a deadline for
 * every request and cancels almost all of them a millisecond later; a runtime
 * timer each (`setTimeout` + `clearTimeout`) is measurable per call. Here
 * deadlines are grouped into slots by due time, and one ticker, running only
 * while a deadline is pending, fires the slots that are due. Adding and
 * cancelling a deadline are a `Map` lookup and a `Set` insertion or deletion.
 *
 * A deadline fires at or after its time, never early, and at most one slot
 * plus one tick late: slots are `tickMs` wide (10 ms by default) or 1/64 of
 * the delay when that is wider, so a 30 s deadline may fire about 0.5 s late
 * while a 300 ms one fires within 20 ms. Callbacks run from the ticker, one at
 * a time, and must not throw (an exception is reported and does not stop the
 * others).
 *
 * @example
 * ```ts
 * import { Deadlines } from "./deadlines.ts";
 * const deadlines = new Deadlines();
 * const cancel = deadlines.after(30_000, () => console.log("too slow"));
 * cancel(); // the call ended in time
 * ```
 *
 * @module
 */

/** Slots per delay: a deadline may fire up to 1/64 of its delay late. */
const SLOTS_PER_DELAY = 64;

/** A set of deadlines sharing one ticker. */
export class Deadlines {
  readonly #tickMs: number;
  /** Callbacks by due time (a multiple of its slot width). */
  readonly #slots = new Map<number, Set<() => void>>();
  #ticker: ReturnType<typeof setInterval> | null = null;

  /**
   * @param tickMs how often due slots are fired, and the narrowest slot
   * @throws {RangeError} when `tickMs` is not a positive integer
   */
  constructor(tickMs = 10) {
    if (!Number.isSafeInteger(tickMs) || tickMs < 1) {
      throw new RangeError(`Cannot create deadlines: invalid tick of ${tickMs} ms`);
    }
    this.#tickMs = tickMs;
  }

  /** Deadlines not yet fired or cancelled. */
  get pending(): number {
    let n = 0;
    for (const slot of this.#slots.values()) n += slot.size;
    return n;
  }

  /**
   * Call `callback` once `ms` milliseconds have passed, unless cancelled.
   *
   * @param ms delay in milliseconds (0 or more)
   * @param callback what to run at the deadline
   * @returns a function that cancels the deadline (safe to call more than once,
   *   and after it fired)
   * @throws {RangeError} when `ms` is negative or not finite
   */
  after(ms: number, callback: () => void): () => void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`Cannot set deadline: invalid delay of ${ms} ms`);
    }
    const width = slotWidth(ms, this.#tickMs);
    const due = Math.ceil((performance.now() + ms) / width) * width;
    let slot = this.#slots.get(due);
    if (slot === undefined) {
      slot = new Set();
      this.#slots.set(due, slot);
    }
    // A distinct function per deadline, so equal callbacks stay distinct entries.
    const entry = () => callback();
    slot.add(entry);
    if (this.#ticker === null) this.#ticker = setInterval(() => this.#tick(), this.#tickMs);
    const owner = slot;
    return () => {
      if (!owner.delete(entry) || owner.size > 0) return;
      if (this.#slots.get(due) === owner) this.#slots.delete(due);
      this.#idle();
    };
  }

  #tick(): void {
    const now = performance.now();
    const due: Set<() => void>[] = [];
    for (const [time, slot] of this.#slots) {
      if (time <= now) {
        due.push(slot);
        this.#slots.delete(time);
      }
    }
    this.#idle();
    for (const slot of due) {
      for (const callback of slot) {
        try {
          callback();
        } catch (error) {
          reportError(error);
        }
      }
      slot.clear();
    }
  }

  /** Stop the ticker once nothing is pending. */
  #idle(): void {
    if (this.#slots.size === 0 && this.#ticker !== null) {
      clearInterval(this.#ticker);
      this.#ticker = null;
    }
  }
}

/** The slot width for a delay: at least a tick, about 1/64 of the delay, a power of two. */
function slotWidth(ms: number, tickMs: number): number {
  const wanted = ms / SLOTS_PER_DELAY;
  if (wanted <= tickMs) return tickMs;
  return tickMs * 2 ** Math.floor(Math.log2(wanted / tickMs));
}
