/**
 * Worker entry of `withinDeadline()` (`tests/_helpers.ts`): runs a list of
 * jobs that might never return (a regular expression with catastrophic
 * backtracking, a detector over hostile input), posting progress after each,
 * so the test thread can terminate it at a deadline and say which job hung.
 *
 * @module
 */

import type { DeadlineJob, DeadlineMessage } from "./_helpers.ts";

/** The part of a worker's global scope used here (no `deno.worker` lib in a shared check). */
interface WorkerScope {
  postMessage(message: DeadlineMessage): void;
  onmessage: ((event: MessageEvent<DeadlineJob>) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = async ({ data: job }) => {
  try {
    const results: unknown[] = [];
    if (job.kind === "match") {
      const re = new RegExp(job.source, job.flags);
      for (const input of job.inputs) {
        results.push(re.test(input));
        scope.postMessage({ kind: "progress", done: results.length });
      }
    } else {
      const fn = (await import(job.module))[job.name];
      if (typeof fn !== "function") throw new TypeError(`No function "${job.name}" in the module`);
      for (const args of job.calls) {
        results.push(await fn(...args));
        scope.postMessage({ kind: "progress", done: results.length });
      }
    }
    scope.postMessage({ kind: "done", results });
  } catch (error) {
    scope.postMessage({ kind: "error", message: String((error as Error)?.stack ?? error) });
  }
};
