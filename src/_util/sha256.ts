/**
 * SHA-256 (FIPS 180-4) for short messages, in plain TypeScript.
 *
 * Why: the audit log's Merkle tree hashes 33-byte leaves and 65-byte nodes,
 * one or two per record. `node:crypto`'s `createHash` costs a few
 * microseconds per call whatever the input size (object creation and the
 * trip into native code), which made verifying a log with its Merkle roots
 * several times slower than verifying the chain. Compressing one or two
 * blocks in JavaScript costs a fraction of that. Every output is checked
 * against `node:crypto` in `sha256_test.ts`, for all lengths up to several
 * blocks and random inputs.
 *
 * Not constant-time: use it only for public data (hashes of records), never
 * for secrets or MACs.
 *
 * @module
 */

/** The three hash functions, over private scratch space. */
export interface Sha256Functions {
  /** SHA-256 of the concatenation of `parts`. */
  sha256(...parts: readonly Uint8Array[]): Uint8Array;
  /** SHA-256(`prefix` ‖ `a`) for a 32-byte `a` (one block). */
  sha256Prefixed32(prefix: number, a: Uint8Array): Uint8Array;
  /** SHA-256(`prefix` ‖ `a` ‖ `b`) for 32-byte `a` and `b` (two blocks). */
  sha256Prefixed64(prefix: number, a: Uint8Array, b: Uint8Array): Uint8Array;
}

/**
 * Make a set of the hash functions. Reads no name from outside its own body,
 * so its source text also runs in a worker (`audit verify` hashes there).
 */
export function makeSha256(): Sha256Functions {
  // The round constants (FIPS 180-4, 4.2.2) and the initial hash value (5.3.3).
  // deno-fmt-ignore
  const K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  // deno-fmt-ignore
  const INITIAL = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  // Scratch space, reused: the functions are synchronous.
  const W = new Int32Array(64);
  const H = new Int32Array(8);
  const BLOCK = new Uint8Array(64);

  /** One compression of the 16 words in `w[0..16)` into `h` (`k`: the round constants). */
  function compress(w: Int32Array, h: Int32Array, k: Int32Array): void {
    for (let i = 16; i < 64; i++) {
      const w15 = w[i - 15];
      const w2 = w[i - 2];
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + s1 + (g ^ (e & (f ^ g))) + k[i] + w[i]) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) | (c & (a | b)))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0;
    h[5] = (h[5] + f) | 0;
    h[6] = (h[6] + g) | 0;
    h[7] = (h[7] + hh) | 0;
  }

  /** Compress the 64-byte block at `bytes[offset..offset+64)`. */
  function compressBytes(bytes: Uint8Array, offset: number): void {
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    compress(W, H, K);
  }

  /** `H` = the initial hash value. */
  function init(): void {
    for (let i = 0; i < 8; i++) H[i] = INITIAL[i];
  }

  // Digests are views on shared 4 KiB chunks: a typed array of its own costs
  // about a microsecond to create, a view on an existing buffer almost
  // nothing. A chunk is never reused, so every returned digest stays valid;
  // one that is kept keeps its chunk alive (at most 4 KiB).
  const CHUNK_BYTES = 4096;
  let chunk = new ArrayBuffer(CHUNK_BYTES);
  let used = 0;

  /** The digest in `H`, as 32 bytes of their own. */
  function digest(): Uint8Array {
    if (used === CHUNK_BYTES) {
      chunk = new ArrayBuffer(CHUNK_BYTES);
      used = 0;
    }
    const out = new Uint8Array(chunk, used, 32);
    used += 32;
    for (let i = 0; i < 8; i++) {
      const v = H[i];
      out[i * 4] = v >>> 24;
      out[i * 4 + 1] = v >>> 16;
      out[i * 4 + 2] = v >>> 8;
      out[i * 4 + 3] = v;
    }
    return out;
  }

  /** Big-endian word of `x[i..i+4)` shifted by one byte: `x[i-1]` first (`first` for i = 0). */
  function word(first: number, x: Uint8Array, i: number): number {
    return (first << 24) | (x[i] << 16) | (x[i + 1] << 8) | x[i + 2];
  }

  function sha256(...parts: readonly Uint8Array[]): Uint8Array {
    H.set(INITIAL);
    let filled = 0;
    let total = 0;
    for (const part of parts) {
      total += part.length;
      let i = 0;
      if (filled > 0) {
        const take = Math.min(64 - filled, part.length);
        BLOCK.set(part.subarray(0, take), filled);
        filled += take;
        i = take;
        if (filled === 64) {
          compressBytes(BLOCK, 0);
          filled = 0;
        }
      }
      for (; i + 64 <= part.length; i += 64) compressBytes(part, i);
      if (i < part.length) {
        BLOCK.set(part.subarray(i), 0);
        filled = part.length - i;
      }
    }
    // Padding: 0x80, zeros, then the length in bits as a 64-bit big-endian number.
    BLOCK[filled++] = 0x80;
    if (filled > 56) {
      BLOCK.fill(0, filled);
      compressBytes(BLOCK, 0);
      filled = 0;
    }
    BLOCK.fill(0, filled, 56);
    const bits = total * 8;
    const high = Math.floor(bits / 0x100000000);
    BLOCK[56] = high >>> 24;
    BLOCK[57] = high >>> 16;
    BLOCK[58] = high >>> 8;
    BLOCK[59] = high;
    BLOCK[60] = bits >>> 24;
    BLOCK[61] = bits >>> 16;
    BLOCK[62] = bits >>> 8;
    BLOCK[63] = bits;
    compressBytes(BLOCK, 0);
    return digest();
  }

  function sha256Prefixed32(prefix: number, a: Uint8Array): Uint8Array {
    init();
    // One block: prefix, a[0..32), 0x80, zeros, the length (33 bytes = 264 bits).
    W[0] = word(prefix, a, 0);
    for (let j = 1; j < 8; j++) W[j] = word(a[4 * j - 1], a, 4 * j);
    W[8] = (a[31] << 24) | (0x80 << 16);
    for (let j = 9; j < 15; j++) W[j] = 0;
    W[15] = 264;
    compress(W, H, K);
    return digest();
  }

  function sha256Prefixed64(prefix: number, a: Uint8Array, b: Uint8Array): Uint8Array {
    init();
    // Block 1: prefix, a[0..32), b[0..31).
    W[0] = word(prefix, a, 0);
    for (let j = 1; j < 8; j++) W[j] = word(a[4 * j - 1], a, 4 * j);
    W[8] = word(a[31], b, 0);
    for (let j = 9; j < 16; j++) W[j] = word(b[4 * j - 33], b, 4 * j - 32);
    compress(W, H, K);
    // Block 2: b[31], 0x80, zeros, the length (65 bytes = 520 bits).
    W[0] = (b[31] << 24) | (0x80 << 16);
    for (let j = 1; j < 15; j++) W[j] = 0;
    W[15] = 520;
    compress(W, H, K);
    return digest();
  }

  return { sha256, sha256Prefixed32, sha256Prefixed64 };
}

const SHARED = makeSha256();

/** SHA-256 of the concatenation of `parts` (for example a prefix byte and one or two hashes). */
export const sha256: Sha256Functions["sha256"] = SHARED.sha256;

/** SHA-256(`prefix` ‖ `a`) for a 32-byte `a`: one block (a Merkle leaf over a hash). */
export const sha256Prefixed32: Sha256Functions["sha256Prefixed32"] = SHARED.sha256Prefixed32;

/** SHA-256(`prefix` ‖ `a` ‖ `b`) for 32-byte `a` and `b`: two blocks (a Merkle interior node). */
export const sha256Prefixed64: Sha256Functions["sha256Prefixed64"] = SHARED.sha256Prefixed64;
