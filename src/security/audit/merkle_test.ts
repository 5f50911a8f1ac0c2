/**
 * Conformance of the audit log's Merkle tree (`merkle.ts`) to RFC 9162: the Certificate
 * Transparency reference tree, an independent naive reference written here from the RFC's
 * definitions (MTH, PATH, PROOF/SUBPROOF), and every mutation of a proof rejected.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  consistencyProof,
  emptyRoot,
  HASH_BYTES,
  hashHex,
  inclusionProof,
  leafHash,
  MerkleAccumulator,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

// ---- Naive reference, straight from the RFC 9162 definitions (section 2.1) ----

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
};
const refLeaf = (data: Uint8Array) => sha256(Uint8Array.of(0), data);
const refNode = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(1), l, r);
/** The largest power of two strictly below n (n > 1). */
const refSplit = (n: number) => 2 ** Math.floor(Math.log2(n - 1));
/** MTH over leaf hashes (MTH of one entry is its leaf hash). */
function refMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = refSplit(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
}
/** A subtree of the leaves, [lo, hi), as PATH and SUBPROOF name it. */
type Range = [lo: number, hi: number];
/** PATH(m, D[lo:hi]) as the subtrees whose MTH it lists, in order. */
function refPath(m: number, lo: number, hi: number): Range[] {
  if (hi - lo === 1) return [];
  const k = refSplit(hi - lo);
  return m < k
    ? [...refPath(m, lo, lo + k), [lo + k, hi]]
    : [...refPath(m - k, lo + k, hi), [lo, lo + k]];
}
/** SUBPROOF(m, D[lo:hi], b) as subtrees; PROOF(m, D[n]) is SUBPROOF(m, D[0:n], true). */
function refSubproof(m: number, lo: number, hi: number, whole: boolean): Range[] {
  if (m === hi - lo) return whole ? [] : [[lo, hi]];
  const k = refSplit(hi - lo);
  return m <= k
    ? [...refSubproof(m, lo, lo + k, whole), [lo + k, hi]]
    : [...refSubproof(m - k, lo + k, hi, false), [lo, lo + k]];
}
/**
 * Which side of the proven part each proof element lies on. A verifier sees only this
 * shape, so a proof verifies for another size exactly when that size's shape is the same.
 */
const sides = (ranges: Range[], edge: number) =>
  ranges.map(([lo]) => lo >= edge ? "R" : "L").join("");
const inclusionShape = (index: number, size: number) =>
  index < size ? sides(refPath(index, 0, size), index + 1) : "invalid";
const consistencyShape = (m: number, n: number) =>
  0 < m && m < n ? sides(refSubproof(m, 0, n, true), m) : "invalid";

/** The compact range of [0, size): one perfect subtree per 1 bit of size, largest first. */
function refCompact(d: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let lo = 0, rest = d.length; rest > 0;) {
    const width = 2 ** Math.floor(Math.log2(rest));
    out.push(refMth(d.slice(lo, lo + width)));
    lo += width, rest -= width;
  }
  return out;
}

// ---- Helpers ----

const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const hexes = (hs: readonly Uint8Array[]) => hs.map(hashHex);
const LEAVES = Array.from({ length: 70 }, (_, i) => refLeaf(new TextEncoder().encode(`rec ${i}`)));
const at = (i: number) => LEAVES[i]!;
const flip = (h: Uint8Array, bit: number) => {
  const out = h.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
};
/** A seeded PRNG (mulberry32), so a failure names a reproducible case. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SAMPLE_SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 47];

/** Every broken variant of a proof: [description, proof]. */
function mutatedProofs(proof: Uint8Array[], roots: Uint8Array[], rnd: () => number) {
  const out: [string, Uint8Array[]][] = [];
  const garbage = [...roots, sha256(Uint8Array.of(7)), ...proof.slice(0, 1)];
  proof.forEach((_, i) => {
    const put = (h: Uint8Array) => proof.map((p, j) => (i === j ? h : p));
    const bit = Math.floor(rnd() * HASH_BYTES * 8);
    out.push([`proof[${i}] bit 4 of byte 0`, put(flip(proof[i]!, 4))]);
    out.push([`proof[${i}] bit ${bit}`, put(flip(proof[i]!, bit))]);
    out.push([`proof[${i}] cut to 31 bytes`, put(proof[i]!.slice(0, 31))]);
    out.push([`proof[${i}] grown to 33 bytes`, put(Uint8Array.of(...proof[i]!, 0))]);
  });
  if (proof.length > 0) {
    out.push(["last element dropped", proof.slice(0, -1)]);
    out.push(["first element dropped", proof.slice(1)]);
  }
  for (const [g, extra] of garbage.entries()) {
    out.push([`trailing garbage ${g}`, [...proof, extra]]);
    out.push([`preceding garbage ${g}`, [extra, ...proof]]);
  }
  out.push(["trailing 31-byte element", [...proof, new Uint8Array(31)]]);
  return out;
}

// ---- Negative tests first ----

Deno.test("verifyInclusion() rejects every mutated proof, root, leaf, index and size", () => {
  const rnd = prng(9162);
  let rejectedSizes = 0;
  for (const size of SAMPLE_SIZES) {
    const root = rootOf(LEAVES.slice(0, size));
    for (let index = 0; index < size; index++) {
      const proof = inclusionProof(at, index, size);
      const leaf = at(index);
      const label = `size ${size} index ${index}`;
      assert.ok(verifyInclusion(leaf, index, size, proof, root), label);
      for (const [what, bad] of mutatedProofs(proof, [root, leaf], rnd)) {
        assert.equal(verifyInclusion(leaf, index, size, bad, root), false, `${label}: ${what}`);
      }
      const wrong: [string, boolean][] = [
        ["wrong root", verifyInclusion(leaf, index, size, proof, flip(root, 4))],
        ["empty-tree root", verifyInclusion(leaf, index, size, proof, emptyRoot())],
        ["wrong leaf", verifyInclusion(flip(leaf, 4), index, size, proof, root)],
        ["size * 2", verifyInclusion(leaf, index, size * 2, proof, root)],
        ["size / 2", verifyInclusion(leaf, index, Math.floor(size / 2), proof, root)],
        ["index - 1", verifyInclusion(leaf, index - 1, size, proof, root)],
        ["index + 1", verifyInclusion(leaf, index + 1, size, proof, root)],
        ["index = size", verifyInclusion(leaf, size, size, proof, root)],
        ["31-byte leaf", verifyInclusion(leaf.slice(1), index, size, proof, root)],
        ["33-byte root", verifyInclusion(leaf, index, size, proof, Uint8Array.of(...root, 0))],
      ];
      for (const [what, ok] of wrong) assert.equal(ok, false, `${label}: ${what}`);
      // Size ± 1: rejected unless the audit path has the same shape for that size (index 0
      // of 3 and of 4 leaves: [l1, l2] vs [l1, n23]); the signed checkpoint binds the size.
      for (const other of [size - 1, size + 1]) {
        const sameShape = inclusionShape(index, other) === inclusionShape(index, size);
        const ok = verifyInclusion(leaf, index, other, proof, root);
        assert.equal(ok, sameShape, `${label}: size ${other}`);
        if (!sameShape) rejectedSizes++;
      }
    }
  }
  assert.ok(rejectedSizes > 100, `only ${rejectedSizes} other sizes had another shape`);
});

Deno.test("verifyConsistency() rejects every mutated proof, wrong or swapped roots and m±1, n±1", () => {
  const rnd = prng(6962);
  let rejectedSizes = 0;
  for (const n of SAMPLE_SIZES) {
    const rootN = rootOf(LEAVES.slice(0, n));
    for (let m = 1; m <= n; m++) {
      const rootM = rootOf(LEAVES.slice(0, m));
      const proof = consistencyProof(at, m, n);
      const label = `m ${m} n ${n}`;
      assert.ok(verifyConsistency(m, n, proof, rootM, rootN), label);
      for (const [what, bad] of mutatedProofs(proof, [rootM, rootN], rnd)) {
        assert.equal(verifyConsistency(m, n, bad, rootM, rootN), false, `${label}: ${what}`);
      }
      const wrong: [string, boolean][] = [
        ["wrong first root", verifyConsistency(m, n, proof, flip(rootM, 4), rootN)],
        ["wrong second root", verifyConsistency(m, n, proof, rootM, flip(rootN, 4))],
        ["m - 1", verifyConsistency(m - 1, n, proof, rootM, rootN)],
        ["m + 1", verifyConsistency(m + 1, n, proof, rootM, rootN)],
        ["n * 2", verifyConsistency(m, n * 2, proof, rootM, rootN)],
        ["n / 2", verifyConsistency(m, Math.floor(n / 2), proof, rootM, rootN)],
        ["31-byte first root", verifyConsistency(m, n, proof, rootM.slice(1), rootN)],
      ];
      if (m < n) {
        wrong.push(["swapped roots", verifyConsistency(m, n, proof, rootN, rootM)]);
        wrong.push(["empty proof", verifyConsistency(m, n, [], rootM, rootN)]);
        wrong.push(["swapped sizes", verifyConsistency(n, m, proof, rootN, rootM)]);
      }
      for (const [what, ok] of wrong) assert.equal(ok, false, `${label}: ${what}`);
      // n ± 1: rejected unless the proof has the same shape for that size (as for inclusion).
      for (const other of [n - 1, n + 1]) {
        const sameShape = m < n && consistencyShape(m, other) === consistencyShape(m, n);
        const ok = verifyConsistency(m, other, proof, rootM, rootN);
        assert.equal(ok, sameShape, `${label}: n ${other}`);
        if (!sameShape) rejectedSizes++;
      }
    }
  }
  assert.ok(rejectedSizes > 100, `only ${rejectedSizes} other sizes had another shape`);
});

Deno.test("verifyInclusion() and verifyConsistency() return false and never throw on malformed input", () => {
  const root5 = rootOf(LEAVES.slice(0, 5));
  const proof = inclusionProof(at, 2, 5);
  const badNumbers = [NaN, -1, 1.5, Infinity, -Infinity, 2 ** 53, "2" as unknown as number];
  for (const bad of badNumbers) {
    assert.equal(verifyInclusion(at(2), bad, 5, proof, root5), false, `index ${bad}`);
    assert.equal(verifyInclusion(at(2), 2, bad, proof, root5), false, `size ${bad}`);
    assert.equal(verifyConsistency(bad, 5, [], root5, root5), false, `m ${bad}`);
    assert.equal(verifyConsistency(5, bad, [], root5, root5), false, `n ${bad}`);
  }
  // An array whose element getter throws: the verifiers still answer false.
  const trap = [at(0)];
  Object.defineProperty(trap, 0, {
    get: () => {
      throw new Error("trap");
    },
  });
  const notProofs = [null, undefined, "x", {}, [null], ["a".repeat(32)], [Array(32).fill(0)], trap];
  for (const bad of notProofs as unknown as Uint8Array[][]) {
    assert.equal(verifyInclusion(at(2), 2, 5, bad, root5), false);
    assert.equal(verifyConsistency(2, 5, bad, rootOf(LEAVES.slice(0, 2)), root5), false);
  }
  assert.equal(verifyInclusion(null as unknown as Uint8Array, 2, 5, proof, root5), false);
  assert.equal(verifyInclusion(at(0), 0, 0, [], emptyRoot()), false, "size 0 holds no leaf");
  assert.equal(verifyInclusion(at(0), 0, 1, [], at(0).slice(0, 31)), false);
  const huge = Array.from({ length: 53 }, (_, i) => at(i));
  assert.equal(verifyInclusion(at(0), 0, Number.MAX_SAFE_INTEGER, huge, root5), false);
  assert.equal(verifyInclusion(at(0), 0, 5, Array(65).fill(at(1)), root5), false, "too long");
  assert.equal(verifyConsistency(6, 5, [], root5, root5), false, "m > n");
  // m = 0: only the empty proof, and the first root must be the empty tree's.
  assert.equal(verifyConsistency(0, 5, [at(0)], emptyRoot(), root5), false);
  assert.equal(verifyConsistency(0, 5, [], root5, root5), false);
  assert.equal(verifyConsistency(0, 0, [], emptyRoot(), root5), false);
  assert.ok(verifyConsistency(0, 5, [], emptyRoot(), root5));
  assert.ok(verifyConsistency(0, 0, [], emptyRoot(), emptyRoot()));
});

Deno.test("inclusionProof() and consistencyProof() throw RangeError out of range", () => {
  for (const [index, size] of [[0, 0], [5, 5], [-1, 5], [1.5, 5], [NaN, 5], [0, NaN]]) {
    assert.throws(() => inclusionProof(at, index!, size!), RangeError, `${index}/${size}`);
  }
  for (const [m, n] of [[6, 5], [-1, 5], [1.5, 5], [1, NaN], [1, 2 ** 53]]) {
    assert.throws(() => consistencyProof(at, m!, n!), RangeError, `${m}/${n}`);
  }
  const short = () => new Uint8Array(31);
  assert.throws(() => inclusionProof(short, 0, 2), /leaf hash 1 must be 32 bytes/);
  assert.throws(() => consistencyProof(short, 1, 2), RangeError);
  assert.throws(() => rootOf([at(0), new Uint8Array(33)]), RangeError);
});

Deno.test("verifyInclusion() rejects an interior node's preimage presented as leaf data (0x00/0x01 domain separation)", () => {
  const leaves = LEAVES.slice(0, 8);
  const root = rootOf(leaves);
  // Interior node over leaves [lo, lo + width), with its sibling path in the 8-leaf tree.
  for (const width of [2, 4]) {
    for (let lo = 0; lo < 8; lo += width) {
      const left = rootOf(leaves.slice(lo, lo + width / 2));
      const right = rootOf(leaves.slice(lo + width / 2, lo + width));
      const preimage = Uint8Array.of(...left, ...right);
      // The path of the node is the path of its first leaf without the lower levels.
      const path = inclusionProof((i) => leaves[i]!, lo, 8).slice(Math.log2(width));
      const index = lo / width, size = 8 / width;
      assert.ok(verifyInclusion(nodeHash(left, right), index, size, path, root), "sanity");
      assert.equal(verifyInclusion(leafHash(preimage), index, size, path, root), false);
      assert.notEqual(hashHex(leafHash(preimage)), hashHex(nodeHash(left, right)));
      // Without the prefixes the forgery would work: the 64 bytes hash to the node.
      assert.equal(hashHex(sha256(preimage)), hashHex(sha256(left, right)));
    }
  }
});

Deno.test("rootOf() promotes an odd last node and never duplicates it (Bitcoin-style)", () => {
  const [l0, l1, l2, l3, l4] = LEAVES as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  const three = rootOf([l0, l1, l2]);
  assert.equal(hashHex(three), hashHex(nodeHash(nodeHash(l0, l1), l2)));
  assert.notEqual(hashHex(three), hashHex(nodeHash(nodeHash(l0, l1), nodeHash(l2, l2))));
  assert.notEqual(hashHex(three), hashHex(rootOf([l0, l1, l2, l2])));
  const five = rootOf([l0, l1, l2, l3, l4]);
  assert.equal(hashHex(five), hashHex(nodeHash(rootOf([l0, l1, l2, l3]), l4)));
  const dup = nodeHash(nodeHash(l4, l4), nodeHash(l4, l4));
  assert.notEqual(hashHex(five), hashHex(nodeHash(rootOf([l0, l1, l2, l3]), dup)));
});

Deno.test("MerkleAccumulator cannot be changed through nodes, root() or its inputs", () => {
  const input = LEAVES.slice(0, 3).map((l) => l.slice());
  const acc = new MerkleAccumulator();
  for (const leaf of input) acc.append(leaf);
  const before = hashHex(acc.root());
  input[2]![0]! ^= 1;
  const nodes = acc.nodes as Uint8Array[];
  nodes[0]![0]! ^= 1;
  nodes.push(at(9));
  acc.root()[0]! ^= 1;
  assert.equal(hashHex(acc.root()), before);
  assert.deepEqual(hexes(acc.nodes), hexes(refCompact(LEAVES.slice(0, 3))));
  const restoredFrom = acc.nodes.map((n) => n.slice());
  const restored = new MerkleAccumulator(3, restoredFrom);
  restoredFrom[0]![0]! ^= 1;
  assert.equal(hashHex(restored.root()), before);
  const single = new MerkleAccumulator(1, [at(0)]);
  single.root()[0]! ^= 1;
  assert.equal(hashHex(single.root()), hashHex(at(0)));
  const copy = acc.clone();
  copy.append(at(3));
  assert.equal(acc.size, 3);
  assert.equal(hashHex(acc.root()), before);
});

Deno.test("MerkleAccumulator refuses a wrong node count, a wrong node length and a bad size with RangeError", () => {
  const nodes5 = refCompact(LEAVES.slice(0, 5));
  assert.throws(() => new MerkleAccumulator(5, nodes5.slice(1)), /popcount\(5\) = 2 hashes, got 1/);
  assert.throws(() => new MerkleAccumulator(4, nodes5), /popcount\(4\) = 1 hashes, got 2/);
  assert.throws(() => new MerkleAccumulator(0, [at(0)]), RangeError);
  assert.throws(() => new MerkleAccumulator(5, [nodes5[0]!, at(0).slice(1)]), /nodes\[1\]/);
  for (const size of [-1, 1.5, NaN, 2 ** 53]) {
    assert.throws(() => new MerkleAccumulator(size, []), RangeError, `${size}`);
  }
  const acc = new MerkleAccumulator();
  assert.throws(() => acc.append(new Uint8Array(31)), RangeError);
  assert.equal(acc.size, 0);
});

// ---- Reference values ----

// The Certificate Transparency reference tree (RFC 6962 test data, also used by RFC 9162
// implementations): leaf data, then the hashes of its complete subtrees.
const CT_DATA = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
];
const H = {
  l0: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  l1: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
  l2: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
  l3: "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
  l4: "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  l5: "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
  l6: "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
  l7: "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  n01: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  n23: "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
  n45: "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
  n67: "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  n0123: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  n4567: "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
};
// Published roots for tree sizes 0..8.
const CT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  H.l0,
  H.n01,
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  H.n0123,
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
// Accumulator nodes (compact ranges) for sizes 1..8.
const CT_COMPACT = [
  [H.l0],
  [H.n01],
  [H.n01, H.l2],
  [H.n0123],
  [H.n0123, H.l4],
  [H.n0123, H.n45],
  [H.n0123, H.n45, H.l6],
  [CT_ROOTS[8]!],
];
// [index, size, proof] and [m, n, proof].
const CT_INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 8, [H.l1, H.n23, H.n4567]],
  [5, 8, [H.l4, H.n67, H.n0123]],
  [2, 3, [H.n01]],
  [1, 5, [H.l0, H.n23, H.l4]],
];
const CT_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, [H.l1, H.n23, H.n4567]],
  [6, 8, [H.n45, H.n67, H.n0123]],
  [2, 5, [H.n23, H.l4]],
  [6, 7, [H.n45, H.l6, H.n0123]],
];

Deno.test("rootOf(), leafHash() and MerkleAccumulator give the Certificate Transparency reference hashes", () => {
  const leaves = CT_DATA.map((d) => leafHash(fromHex(d)));
  assert.deepEqual(hexes(leaves), [H.l0, H.l1, H.l2, H.l3, H.l4, H.l5, H.l6, H.l7]);
  assert.equal(hashHex(emptyRoot()), CT_ROOTS[0]);
  assert.equal(hashHex(new MerkleAccumulator().root()), CT_ROOTS[0]);
  const acc = new MerkleAccumulator();
  for (let size = 1; size <= 8; size++) {
    acc.append(leaves[size - 1]!);
    assert.equal(hashHex(rootOf(leaves.slice(0, size))), CT_ROOTS[size], `rootOf size ${size}`);
    assert.equal(hashHex(acc.root()), CT_ROOTS[size], `accumulator size ${size}`);
    assert.deepEqual(hexes(acc.nodes), CT_COMPACT[size - 1], `nodes size ${size}`);
  }
  const leafAt = (i: number) => leaves[i]!;
  for (const [index, size, want] of CT_INCLUSION) {
    const proof = inclusionProof(leafAt, index, size);
    assert.deepEqual(hexes(proof), want, `inclusion ${index} of ${size}`);
    assert.ok(verifyInclusion(leaves[index]!, index, size, proof, fromHex(CT_ROOTS[size]!)));
  }
  for (const [m, n, want] of CT_CONSISTENCY) {
    const proof = consistencyProof(leafAt, m, n);
    assert.deepEqual(hexes(proof), want, `consistency ${m} to ${n}`);
    assert.ok(verifyConsistency(m, n, proof, fromHex(CT_ROOTS[m]!), fromHex(CT_ROOTS[n]!)));
  }
});

Deno.test("rootOf(), MerkleAccumulator, inclusionProof() and consistencyProof() match a naive RFC 9162 reference for every size 1..70", () => {
  assert.equal(hashHex(leafHash(Uint8Array.of(1, 2))), hashHex(refLeaf(Uint8Array.of(1, 2))));
  assert.equal(hashHex(nodeHash(at(0), at(1))), hashHex(refNode(at(0), at(1))));
  const [one, two] = [Uint8Array.of(1), Uint8Array.of(2, 3)];
  assert.equal(hashHex(nodeHash(one, two)), hashHex(refNode(one, two)), "any lengths");
  // 32-byte leaf data and 64-byte nodes (the audit log's shapes); no result shares memory.
  const first = leafHash(at(5)), second = leafHash(at(6));
  const nodeA = nodeHash(at(5), at(6)), nodeB = nodeHash(at(6), at(5));
  assert.deepEqual(hexes([first, second]), hexes([refLeaf(at(5)), refLeaf(at(6))]));
  assert.deepEqual(hexes([nodeA, nodeB]), hexes([refNode(at(5), at(6)), refNode(at(6), at(5))]));
  // MTH(LEAVES[lo:hi]), remembered: the reference recomputes nothing, so all pairs stay cheap.
  const memo = new Map<string, string>();
  const mth = (lo: number, hi: number) => {
    const key = `${lo}:${hi}`;
    if (!memo.has(key)) memo.set(key, hashHex(refMth(LEAVES.slice(lo, hi))));
    return memo.get(key)!;
  };
  const N = LEAVES.length;
  const snapshots = [new MerkleAccumulator()];
  for (let n = 1; n <= N; n++) {
    const acc = snapshots[n - 1]!.clone();
    acc.append(at(n - 1));
    snapshots.push(acc);
    assert.equal(hashHex(rootOf(LEAVES.slice(0, n))), mth(0, n), `rootOf ${n}`);
    assert.equal(hashHex(acc.root()), mth(0, n), `accumulator ${n}`);
    assert.deepEqual(hexes(acc.nodes), hexes(refCompact(LEAVES.slice(0, n))), `nodes ${n}`);
  }
  // Restored from (size, nodes) at every size k, then appended to every later size.
  for (let k = 0; k < N; k++) {
    const restored = new MerkleAccumulator(k, snapshots[k]!.nodes);
    for (let n = k + 1; n <= N; n++) {
      restored.append(at(n - 1));
      assert.equal(hashHex(restored.root()), mth(0, n), `restored at ${k}, size ${n}`);
    }
  }
  for (let n = 1; n <= N; n++) {
    const root = fromHex(mth(0, n));
    for (let index = 0; index < n; index++) {
      const proof = inclusionProof(at, index, n);
      const want = refPath(index, 0, n).map(([lo, hi]) => mth(lo, hi));
      assert.deepEqual(hexes(proof), want, `PATH(${index}, ${n})`);
      assert.ok(verifyInclusion(at(index), index, n, proof, root), `verify ${index} of ${n}`);
    }
    for (let m = 0; m <= n; m++) {
      const proof = consistencyProof(at, m, n);
      const want = m === 0 ? [] : refSubproof(m, 0, n, true).map(([lo, hi]) => mth(lo, hi));
      assert.deepEqual(hexes(proof), want, `PROOF(${m}, ${n})`);
      assert.ok(verifyConsistency(m, n, proof, fromHex(mth(0, m)), root), `verify ${m}, ${n}`);
    }
  }
});
