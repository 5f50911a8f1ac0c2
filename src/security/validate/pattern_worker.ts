/**
 * Testing parameter patterns off the gate's thread, with a deadline.
 *
 * A pattern whose worst case is not known to be small (`src/_util/regex_cost.ts`) could
 * backtrack for seconds to forever on a hostile argument, and a running match
 * cannot be interrupted on its own thread. So such patterns are tested in a
 * Web Worker: if the worker has not answered by the deadline, it is
 * terminated (which stops the match), the call is refused, and a fresh worker
 * is started on next use. Meanwhile the gate's thread keeps serving every
 * other call.
 *
 * The worker is created from an inline source (a blob URL), not from a module
 * file: LOOM also runs as a single-file bundle and as a compiled binary, where
 * no file sits beside this module. One worker per gate, started lazily, tests
 * one call's patterns at a time; the calls waiting behind it are queued, each
 * with its own deadline from the moment it starts.
 *
 * @module
 */

import { PATTERN_DEADLINE_MS } from "../../_util/regex_cost.ts";

export { PATTERN_DEADLINE_MS };

/**
 * How long a fresh worker may take to start before the check it was started
 * for is refused as timed out. Starting a worker takes milliseconds to tens of
 * milliseconds (more on a loaded machine), and so can delivering the first
 * message; that time does not count against {@linkcode PATTERN_DEADLINE_MS},
 * which starts when the worker reports it began testing.
 */
const STARTUP_DEADLINE_MS = 10_000;

/** One string to test against one anchored, unicode-mode pattern source. */
export interface PatternCheck {
  source: string;
  text: string;
}

/** The result of {@linkcode PatternWorker.check}. */
export type PatternVerdict =
  | { ok: true }
  | { ok: false; index: number; reason: "mismatch" | "timeout" | "failed" };

// Messages: in, { sources, texts }; out, { ready } once started, { at } before
// each test (progress; the first one starts the deadline), { failed } when the
// engine threw, and { mismatch } at the end (-1 when every text matched).
const WORKER_SOURCE = `
self.postMessage({ ready: true });
const compiled = new Map();
self.onmessage = (event) => {
  const { sources, texts } = event.data;
  for (let i = 0; i < texts.length; i++) {
    self.postMessage({ at: i });
    let re = compiled.get(sources[i]);
    if (re === undefined) {
      re = new RegExp(sources[i], "u");
      compiled.set(sources[i], re);
    }
    let matched;
    try {
      matched = re.test(texts[i]);
    } catch {
      // The engine gave up (its backtracking stack overflowed, say).
      return self.postMessage({ failed: i });
    }
    if (!matched) return self.postMessage({ mismatch: i });
  }
  self.postMessage({ mismatch: -1 });
};
`;

interface Job {
  checks: readonly PatternCheck[];
  resolve(verdict: PatternVerdict): void;
  reject(error: unknown): void;
}

/**
 * A lazily started worker that tests strings against patterns, each call's
 * batch within {@linkcode PATTERN_DEADLINE_MS}.
 *
 * @example
 * ```ts
 * import { PatternWorker } from "./pattern_worker.ts";
 * const worker = new PatternWorker();
 * await worker.check([{ source: "^(?:(a+)+)$", text: "a".repeat(40) + "!" }]);
 * // { ok: false, index: 0, reason: "timeout" }
 * worker.close();
 * ```
 */
export class PatternWorker {
  readonly #deadlineMs: number;
  #url: string | null = null;
  #worker: Worker | null = null;
  #ready = false;
  #started = false;
  #queue: Job[] = [];
  #current: Job | null = null;
  #at = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** @param deadlineMs the deadline of one call's checks */
  constructor(deadlineMs = PATTERN_DEADLINE_MS) {
    this.#deadlineMs = deadlineMs;
  }

  /**
   * Test each text against its pattern source, in order, off this thread.
   *
   * @returns `ok`, or the index of the first text that does not match, that
   * was still being tested at the deadline, or on which the engine threw
   * @throws {Error} when the worker is closed or fails
   */
  check(checks: readonly PatternCheck[]): Promise<PatternVerdict> {
    if (this.#closed) return Promise.reject(new Error("Cannot check a pattern: worker closed"));
    return new Promise<PatternVerdict>((resolve, reject) => {
      this.#queue.push({ checks, resolve, reject });
      if (this.#current === null) this.#next();
    });
  }

  /** Terminate the worker and refuse the checks still waiting. */
  close(): void {
    this.#closed = true;
    this.#stop();
    const error = new Error("Cannot check a pattern: worker closed");
    this.#current?.reject(error);
    this.#current = null;
    for (const job of this.#queue.splice(0)) job.reject(error);
    if (this.#url !== null) URL.revokeObjectURL(this.#url);
    this.#url = null;
  }

  #next(): void {
    const job = this.#queue.shift();
    if (job === undefined) return;
    this.#current = job;
    this.#at = 0;
    try {
      this.#start();
    } catch (error) {
      this.#current = null;
      job.reject(error);
      this.#next();
      return;
    }
    // A job is posted only to a worker that said it is ready (a message sent
    // to a worker still loading can be lost in a nested worker).
    if (this.#ready) this.#post(job);
    else this.#arm(STARTUP_DEADLINE_MS);
  }

  #post(job: Job): void {
    this.#worker!.postMessage({
      sources: job.checks.map((c) => c.source),
      texts: job.checks.map((c) => c.text),
    });
    // Until the worker says it began (a loaded machine can take a while to
    // deliver the message), the generous deadline; from then, the match's.
    this.#started = false;
    this.#arm(STARTUP_DEADLINE_MS);
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      // The match may never end: terminating the worker is the only way to stop it.
      this.#stop();
      this.#settle({ ok: false, index: this.#at, reason: "timeout" });
    }, ms);
  }

  #settle(verdict: PatternVerdict): void {
    clearTimeout(this.#timer);
    const job = this.#current;
    this.#current = null;
    job?.resolve(verdict);
    this.#next();
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker;
    this.#url ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    const worker = new Worker(this.#url, { type: "module" });
    worker.onmessage = (
      event: MessageEvent<{ ready?: true; at?: number; mismatch?: number; failed?: number }>,
    ) => {
      if (worker !== this.#worker) return;
      const { ready, at, mismatch, failed } = event.data;
      if (ready) {
        this.#ready = true;
        if (this.#current !== null) this.#post(this.#current);
      } else if (at !== undefined) {
        this.#at = at;
        if (!this.#started && this.#current !== null) {
          this.#started = true;
          this.#arm(this.#deadlineMs);
        }
      } else if (failed !== undefined) {
        this.#settle({ ok: false, index: failed, reason: "failed" });
      } else if (mismatch !== undefined) {
        this.#settle(
          mismatch < 0 ? { ok: true } : { ok: false, index: mismatch, reason: "mismatch" },
        );
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      if (worker !== this.#worker) return;
      this.#stop();
      clearTimeout(this.#timer);
      const job = this.#current;
      this.#current = null;
      job?.reject(new Error(`Cannot check a pattern: worker failed: ${event.message}`));
      this.#next();
    };
    this.#worker = worker;
    return worker;
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#worker?.terminate();
    this.#worker = null;
    this.#ready = false;
  }
}
