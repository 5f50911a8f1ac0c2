/**
 * Many deadlines on few timers. A server under load starts a deadline for
 * every request and cancels almost all of them a millisecond later; one
 * runtime timer each (`setTimeout` + `clearTimeout`) is measurable per call.
 * Here deadlines due within the same slot share one timer: cancelling is a
 * `Set` deletion, and a slot's timer is cleared once its last deadline is.
 *
 * A deadline fires at or after its time, at most one slot late (10 ms by
 * default), never early. Callbacks run from a timer, one at a time, and must
 * not throw (an exception is reported and does not stop the others).
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

interface Slot {
  readonly due: number;
  readonly callbacks: Set<() => void>;
  timer: ReturnType<typeof setTimeout> | null;
}

/** A set of deadlines sharing one timer per slot. */
export class Deadlines {
  readonly #slotMs: number;
  readonly #slots = new Map<number, Slot>();

  /**
   * @param slotMs the granularity: deadlines due in the same slot share a timer
   * @throws {RangeError} when `slotMs` is not a positive integer
   */
  constructor(slotMs = 10) {
    if (!Number.isSafeInteger(slotMs) || slotMs < 1) {
      throw new RangeError(`Cannot create deadlines: invalid slot of ${slotMs} ms`);
    }
    this.#slotMs = slotMs;
  }

  /** Deadlines not yet fired or cancelled. */
  get pending(): number {
    let n = 0;
    for (const slot of this.#slots.values()) n += slot.callbacks.size;
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
    const due = Math.ceil((performance.now() + ms) / this.#slotMs) * this.#slotMs;
    let slot = this.#slots.get(due);
    if (slot === undefined) {
      const created: Slot = { due, callbacks: new Set(), timer: null };
      created.timer = setTimeout(() => this.#fire(created), Math.max(0, due - performance.now()));
      this.#slots.set(due, created);
      slot = created;
    }
    const callbacks = slot.callbacks;
    // A distinct function per deadline, so equal callbacks stay distinct entries.
    const entry = () => callback();
    callbacks.add(entry);
    const owner = slot;
    return () => {
      if (!callbacks.delete(entry) || callbacks.size > 0) return;
      if (owner.timer !== null) clearTimeout(owner.timer);
      owner.timer = null;
      if (this.#slots.get(owner.due) === owner) this.#slots.delete(owner.due);
    };
  }

  #fire(slot: Slot): void {
    slot.timer = null;
    if (this.#slots.get(slot.due) === slot) this.#slots.delete(slot.due);
    // Timers may fire a little early: never run a callback before its time.
    const early = slot.due - performance.now();
    if (early > 0 && slot.callbacks.size > 0) {
      slot.timer = setTimeout(() => this.#fire(slot), early);
      this.#slots.set(slot.due, slot);
      return;
    }
    const callbacks = [...slot.callbacks];
    slot.callbacks.clear();
    for (const callback of callbacks) {
      try {
        callback();
      } catch (error) {
        reportError(error);
      }
    }
  }
}
