/**
 * An exact sliding-window rate limiter (`docs/security-controls.md` §1).
 *
 * Exactness: a call at time `now` is allowed iff fewer than `limit` earlier
 * allowed calls of the same key happened in the window `(now - windowMs, now]`.
 * So in any window of length `windowMs` at most `limit` calls are allowed, and a
 * call is refused only when its window really is full. There are no buckets to
 * straddle.
 *
 * Cost: each key keeps a ring buffer of its last `limit` allowed timestamps
 * (grown on demand, so a key with a huge limit and few calls stays small). The
 * oldest of those is the only one that can decide a call: O(1) per call.
 *
 * Memory: a key whose newest call has left its window is idle, and forgetting
 * it changes no future decision, so idle keys are evicted (least recently used
 * first, a couple per call, and all at once when the key cap is reached). At
 * most `maxKeys` keys (default 10,000) are held. A key whose window still
 * holds a call is never evicted, because forgetting it would reset its limit:
 * churning through many keys must not buy a fresh window. When the cap is
 * reached and every held key is active, a call on a new key is refused (fail
 * closed) with the delay until the first held key goes idle.
 *
 * Time: an injectable monotonic clock (default `performance.now`). A `now`
 * earlier than a key's newest call is treated as that newest call, so a clock
 * that steps back cannot reopen a window.
 *
 * @module
 */

import type { RateLimitSpec } from "../../config/mod.ts";

/** Options of {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Monotonic clock in milliseconds. Default `performance.now`. */
  now?: () => number;
  /** Most keys held at once. Default {@linkcode DEFAULT_MAX_KEYS}. */
  maxKeys?: number;
}

/** The decision of {@linkcode RateLimiter.take}. */
export type RateDecision =
  | { allow: true }
  | {
    allow: false;
    /** Milliseconds until a call on this key would be allowed (> 0). */
    retryAfterMs: number;
  };

/** Default cap on the number of keys a limiter holds. */
export const DEFAULT_MAX_KEYS = 10_000;

const INITIAL_CAPACITY = 8;
/** Idle keys examined (from the least recently used end) on each allowed call. */
const EVICT_PER_CALL = 2;

interface Entry {
  /** Ring buffer of allowed call times, oldest at `head`. */
  stamps: Float64Array;
  head: number;
  count: number;
  limit: number;
  windowMs: number;
  newest: number;
}

/**
 * The key for an agent's tool, as the gate uses it. Agent and tool names never
 * contain `/`, so the key is unambiguous.
 *
 * @param agent agent name
 * @param tool tool name
 * @returns `agent/tool`
 */
export function rateLimitKey(agent: string, tool: string): string {
  return `${agent}/${tool}`;
}

/**
 * Exact sliding-window limits for many keys.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./rate_limiter.ts";
 * let t = 0;
 * const limiter = new RateLimiter({ now: () => t });
 * const spec = { limit: 2, windowMs: 1000 };
 * limiter.take("a/tool", spec); // { allow: true }
 * limiter.take("a/tool", spec); // { allow: true }
 * limiter.take("a/tool", spec); // { allow: false, retryAfterMs: 1000 }
 * t = 1000;
 * limiter.take("a/tool", spec); // { allow: true }
 * ```
 */
export class RateLimiter {
  #now: () => number;
  #maxKeys: number;
  /** Insertion order = order of each key's newest allowed call (LRU first). */
  #entries = new Map<string, Entry>();
  /** While the key cap is hit: no held key can go idle before this time. */
  #fullUntil = -Infinity;

  /**
   * @param options clock and key cap
   * @throws {RangeError} when `maxKeys` is not a positive integer
   */
  constructor(options: RateLimiterOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isSafeInteger(this.#maxKeys) || this.#maxKeys < 1) {
      throw new RangeError(`Cannot create a rate limiter: maxKeys must be a positive integer`);
    }
  }

  /** Number of keys currently held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Record a call on `key` if its window has room.
   *
   * @param key the limited subject, e.g. {@linkcode rateLimitKey}(agent, tool)
   * @param limit calls allowed per window
   * @param now the call time (default: the limiter's clock)
   * @returns `{ allow: true }` (the call is counted) or `{ allow: false, retryAfterMs }`
   * @throws {RangeError} when `limit.limit` is not a positive integer or
   * `limit.windowMs` is not a positive finite number
   */
  take(key: string, limit: RateLimitSpec, now: number = this.#now()): RateDecision {
    if (!Number.isSafeInteger(limit.limit) || limit.limit < 1) {
      throw new RangeError("Cannot rate limit: limit must be a positive integer");
    }
    if (!Number.isFinite(limit.windowMs) || limit.windowMs <= 0) {
      throw new RangeError("Cannot rate limit: windowMs must be a positive number");
    }
    if (Number.isNaN(now)) throw new RangeError("Cannot rate limit: now is not a number");

    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= this.#maxKeys) {
        const retryAfterMs = this.#makeRoom(now);
        if (retryAfterMs !== null) return { allow: false, retryAfterMs };
      }
      entry = {
        stamps: new Float64Array(Math.min(limit.limit, INITIAL_CAPACITY)),
        head: 0,
        count: 0,
        limit: limit.limit,
        windowMs: limit.windowMs,
        newest: -Infinity,
      };
      this.#entries.set(key, entry);
      this.#fullUntil = -Infinity;
    } else {
      if (now < entry.newest) now = entry.newest;
      if (entry.limit !== limit.limit || entry.windowMs !== limit.windowMs) {
        reshape(entry, limit);
        this.#fullUntil = -Infinity;
      }
    }

    if (entry.count === entry.limit) {
      // The ring is full (capacity === limit): the oldest of the last `limit`
      // calls decides. Elapsed-time form keeps the test and the delay consistent.
      const elapsed = now - entry.stamps[entry.head];
      if (elapsed < entry.windowMs) return { allow: false, retryAfterMs: entry.windowMs - elapsed };
      entry.stamps[entry.head] = now;
      entry.head = (entry.head + 1) % entry.limit;
    } else {
      if (entry.count === entry.stamps.length) grow(entry);
      entry.stamps[(entry.head + entry.count) % entry.stamps.length] = now;
      entry.count++;
    }
    entry.newest = now;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#evictIdle(now);
    return { allow: true };
  }

  /** Forget every key. */
  clear(): void {
    this.#entries.clear();
    this.#fullUntil = -Infinity;
  }

  /** Evict up to EVICT_PER_CALL idle keys from the least recently used end. */
  #evictIdle(now: number): void {
    let examined = 0;
    for (const [key, entry] of this.#entries) {
      if (examined++ >= EVICT_PER_CALL || !isIdle(entry, now)) return;
      this.#entries.delete(key);
    }
  }

  /**
   * At the key cap: evict every idle key.
   * @returns null when there is room now, else the delay until a key goes idle
   */
  #makeRoom(now: number): number | null {
    if (now < this.#fullUntil) return this.#fullUntil - now;
    let soonest = Infinity;
    for (const [key, entry] of this.#entries) {
      if (isIdle(entry, now)) this.#entries.delete(key);
      else soonest = Math.min(soonest, entry.windowMs - (now - entry.newest));
    }
    if (this.#entries.size < this.#maxKeys) return null;
    this.#fullUntil = now + soonest;
    return soonest;
  }
}

/** Every allowed call of the key has left its window: forgetting it changes nothing. */
function isIdle(entry: Entry, now: number): boolean {
  return now - entry.newest >= entry.windowMs;
}

/** Copy the stamps, oldest first, into a buffer of `capacity`, keeping the newest. */
function resize(entry: Entry, capacity: number, keep: number): void {
  const next = new Float64Array(capacity);
  const drop = entry.count - keep;
  for (let i = 0; i < keep; i++) {
    next[i] = entry.stamps[(entry.head + drop + i) % entry.stamps.length];
  }
  entry.stamps = next;
  entry.head = 0;
  entry.count = keep;
}

function grow(entry: Entry): void {
  resize(entry, Math.min(entry.stamps.length * 2, entry.limit), entry.count);
}

/** A key's limit changed (config reload): keep its newest calls that still fit. */
function reshape(entry: Entry, limit: RateLimitSpec): void {
  const keep = Math.min(entry.count, limit.limit);
  resize(entry, Math.min(limit.limit, Math.max(keep, INITIAL_CAPACITY)), keep);
  entry.limit = limit.limit;
  entry.windowMs = limit.windowMs;
}
