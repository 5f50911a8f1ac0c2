/**
 * Checking the own hash of many lines, on this thread or on a second one.
 *
 * Hashing is most of the cost of `audit verify` (a `node:crypto` hash costs
 * about 2 us a record, whatever its size), and it is independent per line, so
 * for large logs it runs in a Web Worker while the main thread checks `seq`
 * and the `prev` chain. The worker is created from an inline module source
 * (a blob URL), so it also works from a bundle.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { HASH_SUFFIX_LENGTH } from "./_format.ts";

/** The lines of one chunk: `bytes[starts[i], ends[i])`, newline excluded. */
export interface LineBatch {
  readonly bytes: Uint8Array;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly count: number;
}

/** The first line of a batch whose own hash does not match. */
export interface BadLine {
  /** Index of the line in its batch. */
  readonly index: number;
  /** The line's bytes (newline excluded). */
  readonly line: Uint8Array;
  /** Stored hash of the line before it in the batch, or null for the first. */
  readonly prevHash: string | null;
}

/** Checks batches in order; each resolves to its first bad line, or null. */
export interface LineHasher {
  check(batch: LineBatch): Promise<BadLine | null>;
  close(): void;
}

/**
 * The first line whose stored hash (the 64 hex digits before the final `"}`)
 * is not the SHA-256 of the line minus its hash suffix plus `}`, or null.
 */
export function firstBadHash(batch: LineBatch): BadLine | null {
  const index = firstBadIndex(batch, createHash, HASH_SUFFIX_LENGTH);
  return index < 0 ? null : badLine(batch, index);
}

// firstBadIndex and badLine read no name from this module (the hash function
// and the suffix length are arguments), so their source text is also the
// worker's: one algorithm, whichever thread runs it.

function firstBadIndex(batch: LineBatch, hash: typeof createHash, suffixLength: number): number {
  const { bytes, starts, ends, count } = batch;
  const closeBrace = new Uint8Array([0x7d]);
  for (let i = 0; i < count; i++) {
    const start = starts[i];
    const end = ends[i];
    const bodyEnd = end - suffixLength;
    if (bodyEnd <= start) return i;
    const digest = hash("sha256").update(bytes.subarray(start, bodyEnd)).update(closeBrace)
      .digest("hex");
    const stored = end - 66;
    for (let k = 0; k < 64; k++) {
      if (digest.charCodeAt(k) !== bytes[stored + k]) return i;
    }
  }
  return -1;
}

function badLine({ bytes, starts, ends }: LineBatch, index: number): BadLine {
  const prevHash = index === 0
    ? null
    : String.fromCharCode(...bytes.subarray(ends[index - 1] - 66, ends[index - 1] - 2));
  return { index, line: bytes.slice(starts[index], ends[index]), prevHash };
}

/** Hash on the calling thread. */
export function inlineHasher(): LineHasher {
  return {
    check: (batch) => Promise.resolve(firstBadHash(batch)),
    close: () => {},
  };
}

// Bound to constants, so a bundler that renames the functions changes nothing.
const WORKER_SOURCE = `
import { createHash } from "node:crypto";
const firstBadIndex = ${firstBadIndex};
const badLine = ${badLine};
self.onmessage = (event) => {
  const index = firstBadIndex(event.data, createHash, ${HASH_SUFFIX_LENGTH});
  self.postMessage(index < 0 ? null : badLine(event.data, index));
};
`;

/**
 * Hash on a Web Worker. Batches are answered in order, so several may be in
 * flight.
 */
export function workerHasher(): LineHasher {
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  let worker: Worker;
  try {
    worker = new Worker(url, { type: "module" });
  } catch (error) {
    URL.revokeObjectURL(url);
    throw error;
  }
  const waiting: { resolve(bad: BadLine | null): void; reject(error: unknown): void }[] = [];
  let failure: unknown = null;
  worker.onmessage = (event: MessageEvent<BadLine | null>) => waiting.shift()?.resolve(event.data);
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    failure = new Error(`Cannot verify audit log: hashing worker failed: ${event.message}`);
    for (const pending of waiting.splice(0)) pending.reject(failure);
  };
  return {
    check(batch) {
      if (failure !== null) return Promise.reject(failure);
      // Copies (the caller reuses its buffers), transferred rather than cloned.
      const count = batch.count;
      const copy: LineBatch = {
        bytes: batch.bytes.slice(0, count === 0 ? 0 : batch.ends[count - 1]),
        starts: batch.starts.slice(0, count),
        ends: batch.ends.slice(0, count),
        count,
      };
      const verdict = new Promise<BadLine | null>((resolve, reject) => {
        waiting.push({ resolve, reject });
        worker.postMessage(copy, {
          transfer: [copy.bytes.buffer, copy.starts.buffer, copy.ends.buffer] as ArrayBuffer[],
        });
      });
      // A caller that stops early abandons later verdicts; close() rejects
      // them, which must not count as an unhandled rejection.
      verdict.catch(() => {});
      return verdict;
    },
    close() {
      worker.terminate();
      URL.revokeObjectURL(url);
      for (const pending of waiting.splice(0)) {
        pending.reject(new Error("Cannot verify audit log: hashing stopped"));
      }
    },
  };
}
