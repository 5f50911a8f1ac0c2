/**
 * A Merkle tree over the audit log's records, hashed as in RFC 9162 (Certificate
 * Transparency 2.0), section 2.1.
 *
 * Why the audit log needs it: a signed checkpoint commits to the root of the tree over
 * every record so far. Two kinds of proof then work against that one signed value:
 *
 * - an inclusion proof (audit path) shows that one record is covered by a checkpoint,
 *   with log2(n) hashes instead of the whole log;
 * - a consistency proof shows that a later checkpoint's tree extends an earlier one's,
 *   record for record. A log that was forked, truncated and regrown, or had its history
 *   rewritten under a checkpoint cannot produce one, which is what a witness that keeps
 *   the last checkpoint it saw checks.
 *
 * The hashing is RFC 9162's, so proofs interoperate with other transparency logs: a leaf
 * is `SHA-256(0x00 || data)`, an interior node `SHA-256(0x01 || left || right)` (the
 * prefixes keep an interior node from being presented as a leaf), the empty tree's root is
 * `SHA-256("")`, and a tree of n leaves splits at the largest power of two below n, so a
 * lone last node is promoted, never paired with a copy of itself.
 *
 * {@linkcode MerkleAccumulator} keeps the running root in popcount(size) hashes (the
 * "compact range" of the whole tree), so appending costs O(1) amortised and the writer can
 * persist and restore it. Proof generation reads leaf hashes back through a callback and
 * costs O(n); verification follows the RFC algorithms (O(log n)), returns `false` for any
 * malformed input and never throws. Sizes are safe integers; bit operations are done with
 * arithmetic so trees beyond 2^32 leaves work.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { sha256Prefixed32, sha256Prefixed64 } from "../../_util/sha256.ts";

/** Bytes in every hash of the tree (SHA-256). */
export const HASH_BYTES = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);
const EMPTY_ROOT = new Uint8Array(createHash("sha256").digest());

/** `SHA-256(0x00 || data)`: the hash of a leaf holding `data` (RFC 9162, 2.1.1). */
export function leafHash(data: Uint8Array): Uint8Array {
  // The audit log's leaves hold 32-byte hashes: one block, hashed in place.
  if (data.length === HASH_BYTES) return sha256Prefixed32(0x00, data);
  return new Uint8Array(createHash("sha256").update(LEAF_PREFIX).update(data).digest());
}

/** `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 9162, 2.1.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === HASH_BYTES && right.length === HASH_BYTES) {
    return sha256Prefixed64(0x01, left, right);
  }
  return new Uint8Array(
    createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest(),
  );
}

// Copies of hashes are views on shared 4 KiB chunks: a typed array of its own
// costs about a microsecond to create in Deno, a view almost nothing. A chunk
// is never reused, so every copy stays valid.
const COPY_CHUNK_BYTES = 4096;
let copyChunk = new ArrayBuffer(COPY_CHUNK_BYTES);
let copyUsed = 0;

/** A copy of a 32-byte hash that shares nothing with it. */
function copyHash(hash: Uint8Array): Uint8Array {
  if (copyUsed === COPY_CHUNK_BYTES) {
    copyChunk = new ArrayBuffer(COPY_CHUNK_BYTES);
    copyUsed = 0;
  }
  const out = new Uint8Array(copyChunk, copyUsed, HASH_BYTES);
  copyUsed += HASH_BYTES;
  out.set(hash);
  return out;
}

/** The root of the empty tree: SHA-256 of the empty string. A fresh copy. */
export function emptyRoot(): Uint8Array {
  return copyHash(EMPTY_ROOT);
}

/** Lowercase hex of a hash (or any bytes). */
export function hashHex(hash: Uint8Array): string {
  let out = "";
  for (const byte of hash) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * Root of the tree over the given leaf hashes (RFC 9162 MTH, split at the largest power of
 * two < n; odd nodes promoted, never duplicated); {@linkcode emptyRoot} for no leaves.
 * @throws {RangeError} when a leaf hash is not 32 bytes
 */
export function rootOf(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return emptyRoot();
  return subtreeRoot(checkedLeafAt((i) => leaves[i] as Uint8Array), 0, leaves.length);
}

/**
 * Incremental accumulator ("compact range" of [0, size)): popcount(size) subtree roots,
 * oldest (largest) first. Its root equals {@linkcode rootOf} over the same leaves.
 */
export class MerkleAccumulator {
  #size: number;
  #nodes: Uint8Array[];

  /**
   * An accumulator over `size` leaves, restored from its `nodes` (as read from
   * {@linkcode MerkleAccumulator.nodes}); with no arguments, the empty tree.
   * @throws {RangeError} when `size` is not a safe integer >= 0, `nodes.length` is not
   * popcount(size), or a node is not 32 bytes
   */
  constructor(size = 0, nodes: readonly Uint8Array[] = []) {
    if (!isSize(size)) {
      throw new RangeError(`MerkleAccumulator size must be a safe integer >= 0, got ${size}`);
    }
    const want = popcount(size);
    if (!Array.isArray(nodes) || nodes.length !== want) {
      throw new RangeError(
        `MerkleAccumulator nodes must hold popcount(${size}) = ${want} hashes, got ${nodes?.length}`,
      );
    }
    nodes.forEach((node, i) => {
      if (!isHash(node)) {
        throw new RangeError(`MerkleAccumulator nodes[${i}] must be ${HASH_BYTES} bytes`);
      }
    });
    this.#size = size;
    this.#nodes = nodes.map(copyHash);
  }

  /** Leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** The subtree roots, largest (oldest) first: copies, safe to keep or change. */
  get nodes(): readonly Uint8Array[] {
    return this.#nodes.map(copyHash);
  }

  /**
   * Appends one leaf. `leaf` is a leaf hash (from {@linkcode leafHash}), not record data.
   * @throws {RangeError} when `leaf` is not 32 bytes or the tree is full
   */
  append(leaf: Uint8Array): void {
    if (!isHash(leaf)) throw new RangeError(`Merkle leaf hash must be ${HASH_BYTES} bytes`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError("Merkle tree is full");
    let right: Uint8Array = copyHash(leaf);
    // Each trailing 1 bit of the old size is a complete subtree that the new leaf completes.
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      right = nodeHash(this.#nodes.pop() as Uint8Array, right);
    }
    this.#nodes.push(right);
    this.#size++;
  }

  /** Root of [0, size); {@linkcode emptyRoot} when size is 0. */
  root(): Uint8Array {
    const nodes = this.#nodes;
    if (nodes.length === 0) return emptyRoot();
    let root = nodes[nodes.length - 1] as Uint8Array;
    for (let i = nodes.length - 2; i >= 0; i--) root = nodeHash(nodes[i] as Uint8Array, root);
    return root === nodes[nodes.length - 1] ? copyHash(root) : root;
  }

  /** An independent copy. */
  clone(): MerkleAccumulator {
    return new MerkleAccumulator(this.#size, this.#nodes);
  }
}

/**
 * Inclusion proof (audit path) of leaf `index` in the tree of size `size` (RFC 9162 2.1.3.1).
 * `leafAt(i)` returns leaf hash i. Costs O(size) hashes.
 * @throws {RangeError} when `size` is not a safe integer >= 1, `index` is not in [0, size),
 * or `leafAt` returns something that is not 32 bytes
 */
export function inclusionProof(
  leafAt: (i: number) => Uint8Array,
  index: number,
  size: number,
): Uint8Array[] {
  if (!isSize(size) || size < 1) {
    throw new RangeError(`Merkle inclusion proof needs a tree size >= 1, got ${size}`);
  }
  if (!isSize(index) || index >= size) {
    throw new RangeError(`Merkle inclusion proof index must be in [0, ${size}), got ${index}`);
  }
  const at = checkedLeafAt(leafAt);
  const proof: Uint8Array[] = [];
  // PATH(m, D[lo:lo+n]), unrolled: the sibling subtrees from the root down, emitted bottom-up.
  let lo = 0, n = size, m = index;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      proof.push(subtreeRoot(at, lo + k, n - k));
      n = k;
    } else {
      proof.push(subtreeRoot(at, lo, k));
      lo += k, m -= k, n -= k;
    }
  }
  return proof.reverse();
}

/**
 * Whether `proof` shows leaf hash `leaf` at `index` in the tree of `size` leaves with root
 * `root` (RFC 9162 2.1.3.2). False on any malformed input (wrong lengths, index >= size,
 * proof too long or too short); never throws.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isSize(size) || !isSize(index) || index >= size) return false;
    if (!isHash(leaf) || !isHash(root) || !isProof(proof)) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) fn /= 2, sn = Math.floor(sn / 2);
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2), sn = Math.floor(sn / 2);
    }
    return sn === 0 && sameHash(r, root);
  } catch {
    return false;
  }
}

/**
 * Consistency proof between sizes m and n, 0 < m <= n (RFC 9162 2.1.4.1); empty when
 * m == n. m == 0 also gives the empty proof, the one {@linkcode verifyConsistency} accepts
 * for the empty tree. Costs O(n) hashes.
 * @throws {RangeError} when m or n is not a safe integer >= 0, m > n, or `leafAt` returns
 * something that is not 32 bytes
 */
export function consistencyProof(
  leafAt: (i: number) => Uint8Array,
  m: number,
  n: number,
): Uint8Array[] {
  if (!isSize(m) || !isSize(n) || m > n) {
    throw new RangeError(`Merkle consistency proof needs 0 <= m <= n, got m=${m} n=${n}`);
  }
  if (m === 0 || m === n) return [];
  const at = checkedLeafAt(leafAt);
  const proof: Uint8Array[] = [];
  // SUBPROOF(m, D[lo:lo+size], whole), unrolled from the root down, emitted bottom-up.
  let lo = 0, size = n, whole = true;
  while (m !== size) {
    const k = splitPoint(size);
    if (m <= k) {
      proof.push(subtreeRoot(at, lo + k, size - k));
      size = k;
    } else {
      proof.push(subtreeRoot(at, lo, k));
      lo += k, m -= k, size -= k, whole = false;
    }
  }
  if (!whole) proof.push(subtreeRoot(at, lo, size));
  return proof.reverse();
}

/**
 * Whether `proof` shows that the tree of size m with root `rootM` is a prefix of the tree of
 * size n with root `rootN` (RFC 9162 2.1.4.2). False on any malformed input; never throws.
 *
 * Edge cases (RFC 9162 defines proofs for 0 < m < n only): m == n is consistent only with
 * the empty proof and equal roots; m == 0 (the empty tree, a prefix of every tree) only
 * with the empty proof and `rootM` equal to {@linkcode emptyRoot} (and `rootN` too when n
 * is 0). m > n is never consistent.
 */
export function verifyConsistency(
  m: number,
  n: number,
  proof: readonly Uint8Array[],
  rootM: Uint8Array,
  rootN: Uint8Array,
): boolean {
  try {
    if (!isSize(m) || !isSize(n) || m > n) return false;
    if (!isHash(rootM) || !isHash(rootN) || !isProof(proof)) return false;
    if (m === 0) {
      return proof.length === 0 && sameHash(rootM, EMPTY_ROOT) &&
        (n > 0 || sameHash(rootN, EMPTY_ROOT));
    }
    if (m === n) return proof.length === 0 && sameHash(rootM, rootN);
    if (proof.length === 0) return false;
    const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
    let fn = m - 1, sn = n - 1;
    while (fn % 2 === 1) fn = (fn - 1) / 2, sn = Math.floor(sn / 2);
    let fr = path[0] as Uint8Array, sr = fr;
    for (let i = 1; i < path.length; i++) {
      const c = path[i] as Uint8Array;
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        while (fn % 2 === 0 && fn !== 0) fn /= 2, sn = Math.floor(sn / 2);
      } else {
        sr = nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2), sn = Math.floor(sn / 2);
    }
    return sn === 0 && sameHash(fr, rootM) && sameHash(sr, rootN);
  } catch {
    return false;
  }
}

/** MTH(D[lo:lo+n]) for n >= 1, recursively (depth log2 n). */
function subtreeRoot(leafAt: (i: number) => Uint8Array, lo: number, n: number): Uint8Array {
  if (n === 1) return leafAt(lo);
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leafAt, lo, k), subtreeRoot(leafAt, lo + k, n - k));
}

function checkedLeafAt(leafAt: (i: number) => Uint8Array): (i: number) => Uint8Array {
  return (i) => {
    const leaf = leafAt(i);
    if (!isHash(leaf)) throw new RangeError(`Merkle leaf hash ${i} must be ${HASH_BYTES} bytes`);
    return leaf;
  };
}

/** The largest power of two below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function popcount(size: number): number {
  let count = 0;
  for (let s = size; s > 0; s = Math.floor(s / 2)) count += s % 2;
  return count;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && popcount(n) === 1;
}

function isSize(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES;
}

function isProof(proof: unknown): proof is readonly Uint8Array[] {
  return Array.isArray(proof) && proof.length <= 64 && proof.every(isHash);
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
