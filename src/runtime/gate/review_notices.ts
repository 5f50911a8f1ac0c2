/**
 * Telling reviewers about held calls without flooding them. Each call an
 * escalation rule holds opens an approval (recorded in the audit log as
 * `approval` `requested`) or, when the agent's review queue is full, is
 * refused ("review queue full"). A person has to notice both, but a client
 * sending 1,000 such calls must not produce 1,000 notices: that buries the
 * one that matters (a human-in-the-loop overwhelmed is no longer in the loop).
 *
 * So notices are coalesced per agent, in windows (default 10 s):
 * - the first held or refused call of a quiet period is announced at once,
 *   in one line to the operator's sink (the server's stderr), and opens a
 *   window;
 * - further holds and refusals in the window are only counted;
 * - when the window ends (the next call after it, a timer armed once per
 *   window, or {@linkcode ReviewNotices.close} on shutdown) one line sums
 *   them up ("49 more calls held and 950 refused (review queue full)"), and,
 *   when any call was refused, one `approval_queue` audit record carries the
 *   counts. Each call keeps its own `tool_call` outcome record and each new
 *   approval its `approval` record: only the notices are coalesced.
 *
 * Memory is a few counters per agent whatever the traffic; the timer is
 * unreferenced, so it never keeps a process alive.
 *
 * @module
 */

import type { AuditLog } from "../../security/audit/mod.ts";
import type { Approval } from "../../store/mod.ts";

/** Default length of a notice window. */
export const DEFAULT_NOTICE_WINDOW_MS = 10_000;

/** Options of {@linkcode ReviewNotices}. */
export interface ReviewNoticeOptions {
  /** Where lines for reviewers go (the server's stderr). Default: nowhere (audit only). */
  notify?: (line: string) => void;
  /** Window length in ms. Default {@linkcode DEFAULT_NOTICE_WINDOW_MS}. */
  windowMs?: number;
  /** The clock (epoch ms); a seam for tests. Default `Date.now`. */
  now?: () => number;
}

interface NoticeWindow {
  start: number;
  end: number;
  /** Approvals opened in the window (the first announced one included). */
  held: number;
  /** Calls refused as "review queue full" in the window. */
  refused: number;
  /** Of those, counted but not announced (everything after the first). */
  unannounced: number;
  /** What the announced first call was. */
  first: "held" | "refused";
}

/** One agent's coalesced notices of held calls. */
export class ReviewNotices {
  readonly #audit: AuditLog;
  readonly #agent: string;
  readonly #maxPending: number;
  readonly #notify: (line: string) => void;
  readonly #windowMs: number;
  readonly #now: () => number;
  #window: NoticeWindow | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #writing = new Set<Promise<void>>();

  /**
   * @param audit where the summary record goes
   * @param agent the agent's name
   * @param maxPending the pending cap, for messages and records
   * @param options sink, window, clock
   */
  constructor(
    audit: AuditLog,
    agent: string,
    maxPending: number,
    options: ReviewNoticeOptions = {},
  ) {
    this.#audit = audit;
    this.#agent = agent;
    this.#maxPending = maxPending;
    this.#notify = options.notify ?? (() => {});
    this.#windowMs = options.windowMs ?? DEFAULT_NOTICE_WINDOW_MS;
    this.#now = options.now ?? Date.now;
    if (!(Number.isSafeInteger(this.#windowMs) && this.#windowMs > 0)) {
      throw new RangeError("ReviewNotices: windowMs must be a positive integer");
    }
  }

  /** A held call opened a new approval. */
  held(approval: Approval): void {
    this.#note(
      "held",
      () =>
        `agent "${this.#agent}": a call of tool "${approval.tool}" is held for review by rule ` +
        `"${approval.rule}" (approval ${approval.id}); run "loom approvals show ${approval.id}"`,
    );
  }

  /** A held call was refused because the agent's review queue is full. */
  refused(tool: string, pending: number): void {
    this.#note(
      "refused",
      () =>
        `agent "${this.#agent}": a call of tool "${tool}" was refused: review queue full ` +
        `(${pending} pending, at most ${this.#maxPending}); run "loom approvals list"`,
    );
  }

  /** End the current window now (its summary, if any), and wait for its record. */
  async flush(): Promise<void> {
    this.#endWindow();
    await Promise.all(this.#writing);
  }

  /** {@linkcode flush}, on shutdown: nothing counted is left unsaid. */
  async close(): Promise<void> {
    await this.flush();
  }

  #note(kind: "held" | "refused", announce: () => string): void {
    const now = this.#now();
    if (this.#window !== null && now >= this.#window.end) this.#endWindow();
    const window = this.#window;
    if (window === null) {
      this.#window = {
        start: now,
        end: now + this.#windowMs,
        held: kind === "held" ? 1 : 0,
        refused: kind === "refused" ? 1 : 0,
        unannounced: 0,
        first: kind,
      };
      this.#send(announce());
      const timer = setTimeout(() => this.#endWindow(), this.#windowMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
      return;
    }
    if (kind === "held") window.held++;
    else window.refused++;
    window.unannounced++;
  }

  #endWindow(): void {
    const window = this.#window;
    if (window === null) return;
    this.#window = null;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (window.unannounced > 0) this.#send(this.#summary(window));
    if (window.refused === 0) return;
    const written = this.#audit.append({
      event: "approval_queue",
      agent: this.#agent,
      tool: null,
      held: window.held,
      refused: window.refused,
      max_pending: this.#maxPending,
      window_start: new Date(window.start).toISOString(),
      window_end: new Date(Math.min(window.end, Math.max(window.start, this.#now())))
        .toISOString(),
    }).then(() => {}, (error) => {
      this.#send(
        `agent "${this.#agent}": the review queue summary could not be recorded ` +
          `(${error instanceof Error ? error.name : "error"})`,
      );
    });
    this.#writing.add(written);
    written.finally(() => this.#writing.delete(written));
  }

  #send(line: string): void {
    try {
      this.#notify(line);
    } catch {
      // A failing sink must not fail the call that was noticed.
    }
  }

  /** "49 more calls held for review and 950 refused (review queue full ...) since ...". */
  #summary(window: NoticeWindow): string {
    // The announced call is not repeated: only what came after it is "more".
    const moreHeld = window.held - (window.first === "held" ? 1 : 0);
    const moreRefused = window.refused - (window.first === "refused" ? 1 : 0);
    const calls = (n: number) => `${n} more call${n === 1 ? "" : "s"}`;
    const parts: string[] = [];
    if (moreHeld > 0) parts.push(`${calls(moreHeld)} held for review`);
    if (moreRefused > 0) {
      parts.push(
        `${parts.length === 0 ? calls(moreRefused) : moreRefused} refused (review queue full, ` +
          `at most ${this.#maxPending} pending)`,
      );
    }
    return `agent "${this.#agent}": ${parts.join(" and ")} since ` +
      `${new Date(window.start).toISOString()}; run "loom approvals list"`;
  }
}
