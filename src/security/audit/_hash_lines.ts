/**
 * Checking the own hash of many lines, on this thread or on a second one.
 *
 * Hashing is most of the cost of `audit verify` (a `node:crypto` hash costs
 * about 2 us a record, whatever its size), and it is independent per line, so
 * for large logs it runs in a Web Worker while the main thread checks `seq`
 * and the `prev` chain. The worker is created from an inline module source
 * (a blob URL), so it also works from a bundle.
 *
 * The same pass builds the Merkle tree over the records (`merkle.ts`) when
 * roots are asked for: each line whose own hash checks is a leaf,
 * SHA-256(0x00 ‖ its hash), appended to a compact range kept across batches,
 * and the root is taken at each asked-for size. Line `k` is record `k` for
 * every size the chain check accepts (it stops at the first anomaly), so a
 * root is only used for a size up to the records verified. Leaves and nodes
 * are hashed with `makeSha256` (one or two blocks each, cheaper in
 * JavaScript than a `node:crypto` call), on the worker too. The compact
 * range here repeats `MerkleAccumulator.append` in a few lines on purpose:
 * the worker runs this file's functions from their source text, so they
 * cannot import `merkle.ts`; the checkpoint tests compare both with
 * `rootOf`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { makeSha256, type Sha256Functions } from "../../_util/sha256.ts";
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

/** The verdict on one batch: its first bad line (or null), and the roots reached in it. */
export interface BatchVerdict {
  readonly bad: BadLine | null;
  /** `[size, root]` for each asked-for size the batch's good lines reached. */
  readonly roots: readonly (readonly [number, Uint8Array])[];
}

/** Checks batches in order; each resolves to its verdict. */
export interface LineHasher {
  check(batch: LineBatch): Promise<BatchVerdict>;
  close(): void;
}

/** The Merkle tree over the lines checked so far, and the sizes whose roots are wanted. */
interface LineTree {
  size: number;
  /** The compact range: subtree roots, largest first. */
  nodes: Uint8Array[];
  /** Asked-for sizes, ascending. */
  wanted: number[];
  /** Index of the next size in `wanted`. */
  next: number;
}

function newTree(wanted: readonly number[] | null): LineTree | null {
  if (wanted === null) return null;
  return { size: 0, nodes: [], wanted: [...wanted].sort((a, b) => a - b), next: 0 };
}

/**
 * The first line whose stored hash (the 64 hex digits before the final `"}`)
 * is not the SHA-256 of the line minus its hash suffix plus `}`, or null; and
 * the roots reached.
 */
function checkBatch(
  batch: LineBatch,
  tree: LineTree | null,
  sha: Sha256Functions,
): BatchVerdict {
  const roots: [number, Uint8Array][] = [];
  const index = firstBadIndex(batch, createHash, HASH_SUFFIX_LENGTH, tree, sha, roots);
  return { bad: index < 0 ? null : badLine(batch, index), roots };
}

// firstBadIndex and badLine read no name from this module (the hash functions,
// the tree and the suffix length are arguments), so their source text is also
// the worker's: one algorithm, whichever thread runs it.

function firstBadIndex(
  batch: LineBatch,
  hash: typeof createHash,
  suffixLength: number,
  tree: LineTree | null,
  sha: Sha256Functions,
  roots: [number, Uint8Array][],
): number {
  const { bytes, starts, ends, count } = batch;
  const closeBrace = new Uint8Array([0x7d]);
  const leafInput = tree === null ? null : new Uint8Array(32);
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
    if (tree === null || leafInput === null) continue;
    for (let k = 0; k < 32; k++) {
      // Lowercase hex: "0"-"9" are 48-57, "a"-"f" are 97-102.
      const hi = digest.charCodeAt(2 * k);
      const lo = digest.charCodeAt(2 * k + 1);
      leafInput[k] = ((hi <= 57 ? hi - 48 : hi - 87) << 4) | (lo <= 57 ? lo - 48 : lo - 87);
    }
    let right = sha.sha256Prefixed32(0x00, leafInput);
    for (let s = tree.size; s % 2 === 1; s = (s - 1) / 2) {
      right = sha.sha256Prefixed64(0x01, tree.nodes.pop() as Uint8Array, right);
    }
    tree.nodes.push(right);
    tree.size++;
    if (tree.size === tree.wanted[tree.next]) {
      let root = tree.nodes[tree.nodes.length - 1];
      for (let n = tree.nodes.length - 2; n >= 0; n--) {
        root = sha.sha256Prefixed64(0x01, tree.nodes[n], root);
      }
      roots.push([tree.size, root]);
      while (tree.wanted[tree.next] <= tree.size) tree.next++;
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

/**
 * Hash on the calling thread.
 *
 * @param rootsAt sizes whose Merkle roots to report, or null for none
 */
export function inlineHasher(rootsAt: readonly number[] | null = null): LineHasher {
  const tree = newTree(rootsAt);
  const sha = makeSha256();
  return {
    check: (batch) => Promise.resolve(checkBatch(batch, tree, sha)),
    close: () => {},
  };
}

// Bound to constants, so a bundler that renames the functions changes nothing.
const WORKER_SOURCE = `
import { createHash } from "node:crypto";
const firstBadIndex = ${firstBadIndex};
const badLine = ${badLine};
const sha = (${makeSha256})();
let tree = null;
self.onmessage = (event) => {
  if (event.data.wanted !== undefined) {
    tree = { size: 0, nodes: [], wanted: event.data.wanted, next: 0 };
    return;
  }
  const roots = [];
  const index = firstBadIndex(event.data, createHash, ${HASH_SUFFIX_LENGTH}, tree, sha, roots);
  self.postMessage({ bad: index < 0 ? null : badLine(event.data, index), roots });
};
`;

/**
 * Hash on a Web Worker. Batches are answered in order, so several may be in
 * flight.
 *
 * @param rootsAt sizes whose Merkle roots to report, or null for none
 */
export function workerHasher(rootsAt: readonly number[] | null = null): LineHasher {
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  let worker: Worker;
  try {
    worker = new Worker(url, { type: "module" });
  } catch (error) {
    URL.revokeObjectURL(url);
    throw error;
  }
  const waiting: { resolve(verdict: BatchVerdict): void; reject(error: unknown): void }[] = [];
  let failure: unknown = null;
  worker.onmessage = (event: MessageEvent<BatchVerdict>) => waiting.shift()?.resolve(event.data);
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    failure = new Error(`Cannot verify audit log: hashing worker failed: ${event.message}`);
    for (const pending of waiting.splice(0)) pending.reject(failure);
  };
  const wanted = newTree(rootsAt)?.wanted;
  if (wanted !== undefined) worker.postMessage({ wanted });
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
      const verdict = new Promise<BatchVerdict>((resolve, reject) => {
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
