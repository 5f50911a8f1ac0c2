/**
 * The Merkle state of an audit log, kept by the checkpoint writer as the log
 * grows: the compact range of records 1..size (`merkle.ts`), the chain hash
 * of record `size`, and where record size+1 starts in `audit.jsonl`.
 *
 * It follows the file, not the appends of this process: records are read
 * back from `audit.jsonl` up to the head a checkpoint will cover, each one
 * checked (its own hash, `seq` contiguous, `prev` linked), so a checkpoint
 * covers exactly what is on disk, also when another process appended, and
 * never signs over a record that does not verify.
 *
 * A restarted writer continues from its last checkpoint's hints (`offset`,
 * `range`); they are used only when the range reproduces the signed root and
 * the record at `offset` links to the signed head. Otherwise it reads the
 * whole log once.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { IntegrityError } from "../../errors.ts";
import { checkRecordLine } from "./_format.ts";
import { readAt } from "./_io.ts";
import { MerkleAccumulator } from "./merkle.ts";
import { sha256Prefixed32 } from "../../_util/sha256.ts";
import type { StoredCheckpoint } from "./checkpoint.ts";
import { AUDIT_FILE_NAME, GENESIS_HASH } from "./types.ts";

const READ_BYTES = 1024 * 1024;
const DECODER = new TextDecoder();

/** Scratch for one decoded hash (consumed at once by the hash function). */
const HASH_BYTES = new Uint8Array(32);

/**
 * The Merkle leaf of a record: SHA-256(0x00 ‖ the 32 bytes of its chain
 * hash), the same as `leafHash` of those bytes, computed without allocating
 * on the way (`audit verify` does this once per record).
 *
 * @param hashHex 64 lowercase hex digits (checked by the caller)
 */
export function recordLeaf(hashHex: string): Uint8Array {
  for (let i = 0; i < 32; i++) {
    HASH_BYTES[i] = (nibble(hashHex.charCodeAt(2 * i)) << 4) |
      nibble(hashHex.charCodeAt(2 * i + 1));
  }
  return sha256Prefixed32(0x00, HASH_BYTES);
}

function nibble(code: number): number {
  // "0"-"9" are 48-57, "a"-"f" are 97-102.
  return code <= 57 ? code - 48 : code - 87;
}

/** Hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Standard base64 of bytes (a checkpoint's root line). */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Follows `audit.jsonl` and keeps the Merkle state of its prefix. */
export class LogFollower {
  readonly #path: string;
  #acc: MerkleAccumulator;
  #head: string;
  #offset: number;

  private constructor(path: string, acc: MerkleAccumulator, head: string, offset: number) {
    this.#path = path;
    this.#acc = acc;
    this.#head = head;
    this.#offset = offset;
  }

  /**
   * Start from a stored checkpoint's hints when they hold, else from the
   * start of the log.
   *
   * @param dir the log directory
   * @param last the latest stored checkpoint with hints, or null
   */
  static async open(dir: string, last: StoredCheckpoint | null): Promise<LogFollower> {
    const path = join(dir, AUDIT_FILE_NAME);
    const fresh = new LogFollower(path, new MerkleAccumulator(), GENESIS_HASH, 0);
    if (last === null || last.offset === null || last.range === null) return fresh;
    const c = last.checkpoint;
    let acc: MerkleAccumulator;
    try {
      acc = new MerkleAccumulator(c.size, last.range.map((h) => Buffer.from(h, "hex")));
    } catch {
      return fresh;
    }
    if (toBase64(acc.root()) !== c.root) return fresh;
    const resumed = new LogFollower(path, acc, c.head, last.offset);
    // The hint must point at the record after the head, or at the end.
    return (await resumed.#linksAtOffset()) ? resumed : fresh;
  }

  /** Records covered. */
  get size(): number {
    return this.#acc.size;
  }

  /** Chain hash of record `size`. */
  get head(): string {
    return this.#head;
  }

  /** Byte offset of record size+1. */
  get offset(): number {
    return this.#offset;
  }

  /** The Merkle root of records 1..size. */
  root(): Uint8Array {
    return this.#acc.root();
  }

  /** The compact range, hex. */
  range(): string[] {
    return this.#acc.nodes.map(toHex);
  }

  /**
   * Read records until `seq`, checking each; a record that does not verify
   * or link stops it.
   *
   * @throws {IntegrityError} when the log does not continue the followed prefix
   */
  async advanceTo(seq: number): Promise<void> {
    if (seq <= this.#acc.size) return;
    const file = await Deno.open(this.#path, { read: true });
    try {
      const end = (await file.stat()).size;
      let carry = "";
      let pos = this.#offset;
      while (this.#acc.size < seq) {
        if (pos >= end) {
          throw new IntegrityError(
            `Cannot checkpoint the audit log: it ends at seq ${this.#acc.size}, before seq ${seq}`,
          );
        }
        const bytes = await readAt(file, pos, Math.min(READ_BYTES, end - pos));
        pos += bytes.length;
        const text = carry + DECODER.decode(bytes, { stream: true });
        let start = 0;
        for (;;) {
          const nl = text.indexOf("\n", start);
          if (nl < 0 || this.#acc.size >= seq) break;
          const line = text.slice(start, nl);
          this.#take(line);
          this.#offset += Buffer.byteLength(line) + 1;
          start = nl + 1;
        }
        carry = text.slice(start);
      }
    } finally {
      file.close();
    }
  }

  #take(line: string): void {
    const expected = this.#acc.size + 1;
    const check = checkRecordLine(line);
    if (!check.ok || check.record.seq !== expected || check.record.prev !== this.#head) {
      throw new IntegrityError(
        `Cannot checkpoint the audit log: record ${expected} does not verify or does not ` +
          `follow record ${expected - 1}; run "loom audit verify"`,
      );
    }
    this.#acc.append(recordLeaf(check.record.hash));
    this.#head = check.record.hash;
  }

  async #linksAtOffset(): Promise<boolean> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path, { read: true });
    } catch {
      return false;
    }
    try {
      const end = (await file.stat()).size;
      if (this.#offset > end) return false;
      if (this.#offset === end) return true;
      if (this.#offset > 0) {
        const before = await readAt(file, this.#offset - 1, 1);
        if (before[0] !== 0x0a) return false;
      }
      const bytes = await readAt(file, this.#offset, Math.min(READ_BYTES, end - this.#offset));
      const text = DECODER.decode(bytes);
      const nl = text.indexOf("\n");
      if (nl < 0) return false;
      const check = checkRecordLine(text.slice(0, nl));
      return check.ok && check.record.seq === this.#acc.size + 1 &&
        check.record.prev === this.#head;
    } finally {
      file.close();
    }
  }
}
