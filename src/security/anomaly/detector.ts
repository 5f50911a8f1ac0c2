/**
 * The decisions of anomaly detection for one agent: pure logic over the
 * calls its gate finished, with an injected clock and no I/O. What it
 * decides is recorded, counted and alerted by its owner
 * (`src/app/anomaly_monitor.ts`).
 *
 * Kinds ({@linkcode AnomalyKind}):
 *
 * - `new_tool`: a tool called for the first time after the warm-up (a
 *   duration from the agent's first start in this home); a tool first called
 *   during the warm-up is learned silently. Either way
 *   {@linkcode Observed.learned} names it, so the owner persists it.
 * - `rate_limit`: rate-limit refusals of one tool, `threshold` within the
 *   window.
 * - `credential_denials`: secrets the broker refused, within the window.
 * - `denial_burst`: refusals of any kind, within the window.
 * - `tool_changed`: a pinned tool's definition changed (told by the pins).
 *
 * Every count is a sliding window ({@linkcode SlidingCount}) of the last
 * `threshold` event times; once one fires, its key (kind and tool) is quiet
 * for one window and the events in it are counted as `suppressed` in the
 * next anomaly of that key, so a burst makes one record per key per window.
 * Memory is bounded: keys are kinds times the agent's own tools (a name the
 * agent does not have is never a key), and each key holds at most
 * `threshold` times.
 *
 * @module
 */

/** What kind of anomaly. */
export type AnomalyKind =
  | "new_tool"
  | "rate_limit"
  | "credential_denials"
  | "denial_burst"
  | "tool_changed";

/** Every kind, for bounded metric labels. */
export const ANOMALY_KINDS: readonly AnomalyKind[] = [
  "new_tool",
  "rate_limit",
  "credential_denials",
  "denial_burst",
  "tool_changed",
];

/** The thresholds of one agent (`runtime.anomaly`, resolved). */
export interface AnomalyThresholds {
  /** From the agent's first start: tools called are learned silently. */
  warmupMs: number;
  /** The sliding window of every count. */
  windowMs: number;
  /** Rate-limit refusals of one tool within the window. */
  rateLimit: number;
  /** Credential denials within the window. */
  credentialDenials: number;
  /** Refusals of any kind within the window. */
  denialBurst: number;
}

/** One finished call, as the gate reports it. */
export interface CallObservation {
  /** The tool, when the agent has it; null for a name it does not have. */
  tool: string | null;
  /** The outcome's status (`success`, `denied`, ...), or null when none was recorded. */
  status: string | null;
  /** Why the call was refused, or null when it was not. */
  denial: string | null;
}

/** One anomaly: what, which tool, and the numbers behind it. */
export interface Anomaly {
  kind: AnomalyKind;
  /** The tool, when the anomaly concerns one. */
  tool: string | null;
  /** Events counted within the window when it fired. */
  count: number;
  /** The threshold it reached. */
  threshold: number;
  /** The window, in milliseconds (0 for `new_tool`). */
  windowMs: number;
  /** Events of the same key in the quiet window since its previous anomaly. */
  suppressed: number;
  /** When, epoch ms. */
  at: number;
}

/** What one observed call led to. */
export interface Observed {
  /** Anomalies to record (often none). */
  anomalies: Anomaly[];
  /** A tool learned now (called for the first time), to persist; else null. */
  learned: string | null;
}

/** What the detector starts from (persisted by its owner). */
export interface DetectorState {
  /** When the agent was first seen by this home, epoch ms. */
  firstSeenMs: number;
  /** The tools already learned. */
  learned: Iterable<string>;
}

/**
 * A sliding count of one key: the last `threshold` event times, and the
 * quiet window after it fired.
 */
export class SlidingCount {
  readonly #times: number[];
  readonly #threshold: number;
  readonly #windowMs: number;
  #next = 0;
  #size = 0;
  #quietUntil = -Infinity;
  #suppressed = 0;

  /**
   * @param threshold events within the window that fire (at least 1)
   * @param windowMs the window
   */
  constructor(threshold: number, windowMs: number) {
    this.#threshold = Math.max(1, Math.floor(threshold));
    this.#windowMs = windowMs;
    this.#times = new Array(this.#threshold).fill(0);
  }

  /**
   * Count one event.
   *
   * @param now its time, epoch ms
   * @returns null, or the count and suppressed events when it fires
   */
  add(now: number): { count: number; suppressed: number } | null {
    if (now < this.#quietUntil) {
      this.#suppressed++;
      return null;
    }
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % this.#threshold;
    this.#size = Math.min(this.#size + 1, this.#threshold);
    if (this.#size < this.#threshold) return null;
    const oldest = this.#times[this.#next];
    if (now - oldest >= this.#windowMs) return null;
    const fired = { count: this.#threshold, suppressed: this.#suppressed };
    this.#size = 0;
    this.#suppressed = 0;
    this.#quietUntil = now + this.#windowMs;
    return fired;
  }
}

/** The detector of one agent. */
export class AnomalyDetector {
  readonly #thresholds: AnomalyThresholds;
  readonly #firstSeenMs: number;
  readonly #learned: Set<string>;
  readonly #now: () => number;
  readonly #counts = new Map<string, SlidingCount>();

  /**
   * @param thresholds the agent's thresholds
   * @param state first-seen time and learned tools
   * @param now the clock (default `Date.now`)
   */
  constructor(thresholds: AnomalyThresholds, state: DetectorState, now: () => number = Date.now) {
    this.#thresholds = thresholds;
    this.#firstSeenMs = state.firstSeenMs;
    this.#learned = new Set(state.learned);
    this.#now = now;
  }

  /** Whether the warm-up is still running. */
  inWarmup(): boolean {
    return this.#now() < this.#firstSeenMs + this.#thresholds.warmupMs;
  }

  /** Whether a tool is learned. */
  knows(tool: string): boolean {
    return this.#learned.has(tool);
  }

  /**
   * Look at one finished call.
   *
   * @param call its tool (when known), status and denial
   */
  observe(call: CallObservation): Observed {
    const now = this.#now();
    const t = this.#thresholds;
    const anomalies: Anomaly[] = [];
    let learned: string | null = null;
    if (call.tool !== null && !this.#learned.has(call.tool)) {
      this.#learned.add(call.tool);
      learned = call.tool;
      if (now >= this.#firstSeenMs + t.warmupMs) {
        anomalies.push({
          kind: "new_tool",
          tool: call.tool,
          count: 1,
          threshold: 1,
          windowMs: 0,
          suppressed: 0,
          at: now,
        });
      }
    }
    if (call.denial === "rate_limit") {
      this.#count(anomalies, "rate_limit", call.tool, t.rateLimit, now);
    }
    if (call.denial === "secret_denied" && call.status === "denied") {
      this.#count(anomalies, "credential_denials", null, t.credentialDenials, now, call.tool);
    }
    if (call.denial !== null) this.#count(anomalies, "denial_burst", null, t.denialBurst, now);
    return { anomalies, learned };
  }

  /**
   * A pinned tool's definition changed: one anomaly per tool per window.
   *
   * @param tool the tool's own name
   */
  toolChanged(tool: string): Anomaly | null {
    const anomalies: Anomaly[] = [];
    this.#count(anomalies, "tool_changed", tool, 1, this.#now());
    return anomalies[0] ?? null;
  }

  /**
   * @param key the tool the count is kept for (null: the agent's)
   * @param shown the tool the anomaly names (default `key`)
   */
  #count(
    out: Anomaly[],
    kind: AnomalyKind,
    key: string | null,
    threshold: number,
    now: number,
    shown: string | null = key,
  ): void {
    const id = key === null ? kind : `${kind}\u0000${key}`;
    let count = this.#counts.get(id);
    if (count === undefined) {
      count = new SlidingCount(threshold, this.#thresholds.windowMs);
      this.#counts.set(id, count);
    }
    const fired = count.add(now);
    if (fired === null) return;
    out.push({
      kind,
      tool: shown,
      count: fired.count,
      threshold,
      windowMs: this.#thresholds.windowMs,
      suppressed: fired.suppressed,
      at: now,
    });
  }
}
