/**
 * Streaming verification of an audit log: every line's own hash, contiguous
 * `seq`, and the `prev` chain. Reports the first problem and its kind.
 *
 * What a plain chain cannot detect (`docs/security-requirements.md`, AUD-10): removal of the
 * last records, a full rewrite, or rollback to an older copy. `check.ts`
 * compares the signed checkpoints with the hashes and Merkle roots this pass
 * reports (`VerifyOptions.hashesAt`, `rootsAt`) to see those.
 *
 * @module
 */

import { canonicalJson } from "../../_util/canonical_json.ts";
import { NotFoundError } from "../../errors.ts";
import { checkRecordLine, HASH_SUFFIX_HEAD, HASH_SUFFIX_LENGTH } from "./_format.ts";
import {
  type BadLine,
  type BatchVerdict,
  inlineHasher,
  type LineHasher,
  workerHasher,
} from "./_hash_lines.ts";
import { resolveLogFile } from "./_io.ts";
import { recordLeaf, toBase64 } from "./_log_follower.ts";
import { MerkleAccumulator } from "./merkle.ts";
import { type AuditProblem, GENESIS_HASH, type VerifyReport } from "./types.ts";

/** Progress of a running verification. */
export interface VerifyProgress {
  /** Bytes read so far. */
  bytes: number;
  /** Size of the file when verification started. */
  totalBytes: number;
  /** Records verified so far. */
  records: number;
}

/** Options of {@linkcode verifyAuditLog}. */
export interface VerifyOptions {
  /** Called after each chunk read (every few MiB). */
  onProgress?: (progress: VerifyProgress) => void;
  /**
   * Also parse every line and check that it is exactly the canonical JSON of
   * its record (hash last). The default check already covers every byte with
   * the hash and the chain; strict mode adds format conformance at several
   * times the cost, on one thread.
   */
  strict?: boolean;
  /**
   * Hash on a second thread (a Web Worker) while this one checks the chain.
   * Default: when the file is larger than 8 MiB.
   */
  parallel?: boolean;
  /**
   * Also report the hashes of the records with these `seq`s (those verified),
   * in `VerifyReport.hashesAt`: what checkpoints are compared with.
   */
  hashesAt?: ReadonlySet<number>;
  /**
   * Also report the Merkle root (standard base64) of records 1..n for each of
   * these sizes n (those verified), in `VerifyReport.rootsAt`. Costs one more
   * hash or two per record.
   */
  rootsAt?: ReadonlySet<number>;
}

const CHUNK_BYTES = 4 * 1024 * 1024;
const PARALLEL_MIN_BYTES = 8 * 1024 * 1024;
const CHUNKS_IN_FLIGHT = 2;
/** How far to look for a missing record after a forward `seq` jump. */
const LOOKAHEAD_LINES = 10_000;
const HEX64 = /^[0-9a-f]{64}$/;
const PREV_KEY = '"prev":"';
const SEQ_KEY = '"seq":';
const LATIN1 = new TextDecoder("latin1");
const UTF8 = new TextDecoder();

/** A chunk whose hashes are being checked, and the state before it. */
interface PendingChunk {
  readonly verdict: Promise<BatchVerdict>;
  readonly firstLine: number;
  readonly recordsBefore: number;
  readonly hashBefore: string;
}

interface LineFacts {
  seq: number;
  prev: string;
  hash: string;
}

/**
 * A buffer and its latin1 view: one UTF-16 unit per byte, so string offsets
 * are byte offsets. ASCII patterns (keys, digits, hex) are searched in the
 * view; hashing and JSON parsing read the bytes.
 */
interface Chunk {
  readonly bytes: Uint8Array;
  readonly text: string;
}

/**
 * Verify a log. Streams the file in 4 MiB chunks: memory use does not grow
 * with its size. A live log can be verified: records appended after the start
 * are left out.
 *
 * Per line (see `_format.ts` for the format): the hash of the line minus its
 * fixed `,"hash":"…"` suffix must equal the stored hash, and the line must
 * claim the expected `seq` and the previous record's hash as `prev`. Hashes are
 * checked per chunk (on a worker for large files) while `seq` and `prev` are
 * read textually (see `claimsOf`); a line is parsed only when that look is
 * inconclusive or to classify damage.
 *
 * @param path the log directory or the `audit.jsonl` file itself
 * @param options progress callback, strict mode, threading
 * @returns the report; `ok` false names the first bad record and the damage kind
 * @throws {NotFoundError} when there is no log at `path`
 */
export async function verifyAuditLog(
  path: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const filePath = await resolveLogFile(path);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(filePath, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Cannot find audit log: no such file "${filePath}"`, {
        cause: error,
      });
    }
    throw error;
  }
  let hasher: LineHasher | null = null;
  try {
    // A shared lock waits for a writer's batch in progress (writers hold the
    // exclusive lock while writing), so the size is a whole-batch boundary.
    await file.lock(false);
    let totalBytes: number;
    try {
      totalBytes = (await file.stat()).size;
    } finally {
      await file.unlock();
    }
    const strict = options.strict ?? false;
    const rootsAt = options.rootsAt === undefined ? null : [...options.rootsAt];
    if (!strict) {
      // The hashing pass also builds the Merkle tree; in strict mode, this thread does.
      hasher = (options.parallel ?? totalBytes > PARALLEL_MIN_BYTES)
        ? startWorkerOrInline(rootsAt)
        : inlineHasher(rootsAt);
    }
    const verifier = new ChainVerifier(strict, options.hashesAt ?? null, options.rootsAt ?? null);
    return await verifier.run(file, totalBytes, hasher, options.onProgress);
  } finally {
    hasher?.close();
    file.close();
  }
}

/** The state of one verification, fed line by line. */
class ChainVerifier {
  readonly #strict: boolean;
  #records = 0;
  #lastHash = GENESIS_HASH;
  #lineNo = 0;
  #firstBad: AuditProblem | undefined;
  /** Line of the first anomaly seen by the textual pass (a jump or `firstBad`). */
  #anomalyLine = Infinity;
  /** Set after a forward `seq` jump: "deleted" or "reordered" is decided by looking ahead. */
  #jump: { line: number; expected: number; found: number; seen: number } | null = null;
  readonly #wanted: ReadonlySet<number> | null;
  readonly #found = new Map<number, string>();
  readonly #rootsWanted: ReadonlySet<number> | null;
  readonly #roots = new Map<number, string>();
  readonly #tree: MerkleAccumulator | null;

  constructor(
    strict: boolean,
    wanted: ReadonlySet<number> | null,
    rootsWanted: ReadonlySet<number> | null,
  ) {
    this.#strict = strict;
    this.#wanted = wanted;
    this.#rootsWanted = rootsWanted;
    this.#tree = rootsWanted === null || !strict ? null : new MerkleAccumulator();
    if (rootsWanted?.has(0)) this.#roots.set(0, toBase64(new MerkleAccumulator().root()));
  }

  /** Record `seq` with `hash` verified so far (its own hash may still be checked on the side). */
  #accept(seq: number, hash: string): void {
    this.#records = seq;
    this.#lastHash = hash;
    if (this.#wanted?.has(seq)) this.#found.set(seq, hash);
    const tree = this.#tree;
    if (tree !== null) {
      tree.append(recordLeaf(hash));
      if (this.#rootsWanted?.has(seq)) this.#roots.set(seq, toBase64(tree.root()));
    }
  }

  async run(
    file: Deno.FsFile,
    totalBytes: number,
    hasher: LineHasher | null,
    onProgress: ((progress: VerifyProgress) => void) | undefined,
  ): Promise<VerifyReport> {
    // `bytes[0, have)` holds unread data; complete lines are checked and the
    // partial last line moves to the front before the next read.
    let bytes = new Uint8Array(CHUNK_BYTES);
    let have = 0;
    let bytesRead = 0;
    let starts = new Int32Array(16_384);
    let ends = new Int32Array(16_384);
    // Hash verdicts of chunks whose textual pass is done, oldest first.
    const pending: PendingChunk[] = [];
    let stopped = false;
    for (;;) {
      if (have === bytes.length) {
        // One line longer than the buffer (garbage, never a record): grow.
        const bigger = new Uint8Array(bytes.length * 2);
        bigger.set(bytes);
        bytes = bigger;
      }
      // Stop at the size seen at the start: later appends are not this run's.
      const room = Math.min(bytes.length - have, totalBytes - bytesRead);
      const n = room === 0 ? null : await file.read(bytes.subarray(have, have + room));
      if (n === null) break;
      bytesRead += n;
      have += n;
      const chunk: Chunk = { bytes, text: LATIN1.decode(bytes.subarray(0, have)) };
      let count = 0;
      let pos = 0;
      for (;;) {
        const nl = chunk.text.indexOf("\n", pos);
        if (nl < 0) break;
        if (count === starts.length) {
          starts = grow(starts);
          ends = grow(ends);
        }
        starts[count] = pos;
        ends[count] = nl;
        count++;
        pos = nl + 1;
      }
      // Hashes matter only up to the first anomaly.
      if (hasher !== null && this.#anomalyLine === Infinity) {
        pending.push({
          verdict: hasher.check({ bytes, starts, ends, count }),
          firstLine: this.#lineNo + 1,
          recordsBefore: this.#records,
          hashBefore: this.#lastHash,
        });
      }
      for (let i = 0; i < count && !stopped; i++) {
        stopped = !this.#line(chunk, starts[i], ends[i]);
      }
      // Keep a few chunks in flight so the hashing thread never waits.
      while (pending.length > (stopped ? 0 : CHUNKS_IN_FLIGHT)) {
        const oldest = pending.shift() as PendingChunk;
        if (this.#reconcile(oldest, await oldest.verdict)) {
          stopped = true;
          pending.length = 0;
        }
      }
      if (stopped) break;
      bytes.copyWithin(0, pos, have);
      have -= pos;
      onProgress?.({ bytes: bytesRead, totalBytes, records: this.#records });
    }
    for (const chunk of pending) {
      if (stopped) break;
      stopped = this.#reconcile(chunk, await chunk.verdict);
    }
    if (!stopped) {
      this.#settleJump();
      if (this.#firstBad === undefined && have > 0) {
        const line = this.#lineNo + 1;
        this.#firstBad = {
          seq: this.#records + 1,
          line,
          kind: "truncated",
          detail: `Cannot verify audit line ${line}: the last line is incomplete (torn write)`,
        };
      }
    }
    // Good records are contiguous from 1, so the last good seq is their count.
    const report: VerifyReport = {
      ok: this.#firstBad === undefined,
      records: this.#records,
      lastSeq: this.#records,
      lastHash: this.#lastHash,
    };
    if (this.#firstBad !== undefined) report.firstBad = this.#firstBad;
    if (this.#wanted !== null) {
      // A hash verdict may have rolled the count back past some of them.
      const hashes = new Map<number, string>();
      if (this.#wanted.has(0)) hashes.set(0, GENESIS_HASH);
      for (const [seq, hash] of this.#found) if (seq <= this.#records) hashes.set(seq, hash);
      report.hashesAt = hashes;
    }
    if (this.#rootsWanted !== null) {
      const roots = new Map<number, string>();
      for (const [size, root] of this.#roots) if (size <= this.#records) roots.set(size, root);
      report.rootsAt = roots;
    }
    return report;
  }

  /**
   * Apply a chunk's hash verdict: a line whose own hash fails, at or before
   * the first anomaly of the textual pass, is the first problem; roll the
   * counters back to just before it. Returns true when it is.
   */
  #reconcile(chunk: PendingChunk, verdict: BatchVerdict): boolean {
    for (const [size, root] of verdict.roots) this.#roots.set(size, toBase64(root));
    const bad: BadLine | null = verdict.bad;
    if (bad === null) return false;
    const line = chunk.firstLine + bad.index;
    if (line > this.#anomalyLine) return false;
    this.#records = chunk.recordsBefore + bad.index;
    this.#lastHash = bad.prevHash ?? chunk.hashBefore;
    this.#jump = null;
    this.#firstBad = classifyBadLine(UTF8.decode(bad.line), line, this.#records + 1, false);
    this.#anomalyLine = line;
    return true;
  }

  /** Check one complete line `[start, end)`; returns false to stop. */
  #line(chunk: Chunk, start: number, end: number): boolean {
    const lineNo = ++this.#lineNo;
    const jump = this.#jump;
    if (jump !== null) {
      const seq = quickSeq(chunk, start, end);
      if (seq !== null && seq >= jump.expected && seq < jump.found) {
        this.#jump = null;
        return this.#fail({
          seq,
          line: lineNo,
          kind: "reordered",
          detail: `Cannot verify audit record ${seq}: it appears after record ${jump.found}`,
        });
      }
      if (++jump.seen >= LOOKAHEAD_LINES) {
        this.#settleJump();
        return false;
      }
      return true;
    }
    const expected = this.#records + 1;
    let facts: LineFacts | null;
    if (this.#strict) {
      facts = strictFacts(UTF8.decode(chunk.bytes.subarray(start, end)));
    } else {
      const hash = claimsOf(chunk.text, start, end, expected, this.#lastHash);
      if (typeof hash === "string") {
        this.#accept(expected, hash);
        return true;
      }
      facts = hash === null ? null : parsedFacts(chunk, start, end);
    }
    if (facts === null) {
      return this.#fail(
        classifyBadLine(
          UTF8.decode(chunk.bytes.subarray(start, end)),
          lineNo,
          expected,
          this.#strict,
        ),
      );
    }
    if (facts.seq === expected) {
      if (facts.prev !== this.#lastHash) {
        return this.#fail({
          seq: expected,
          line: lineNo,
          kind: "chain_broken",
          detail: expected === 1
            ? `Cannot verify audit record 1: "prev" is not the genesis hash`
            : `Cannot verify audit record ${expected}: "prev" does not match the hash of record ${
              expected - 1
            }`,
        });
      }
      this.#accept(expected, facts.hash);
      return true;
    }
    if (facts.seq > expected) {
      this.#jump = { line: lineNo, expected, found: facts.seq, seen: 0 };
      this.#anomalyLine = Math.min(this.#anomalyLine, lineNo);
      return true;
    }
    return this.#fail({
      seq: facts.seq,
      line: lineNo,
      kind: "reordered",
      detail: facts.seq === expected - 1
        ? `Cannot verify audit record ${facts.seq}: it appears twice`
        : `Cannot verify audit record ${facts.seq}: it appears after record ${expected - 1}`,
    });
  }

  #fail(problem: AuditProblem): false {
    this.#firstBad = problem;
    this.#anomalyLine = Math.min(this.#anomalyLine, problem.line);
    return false;
  }

  #settleJump(): void {
    const jump = this.#jump;
    if (jump === null) return;
    const { expected, found, line } = jump;
    const range = found - 1 === expected
      ? `record ${expected} is`
      : `records ${expected} to ${found - 1} are`;
    this.#jump = null;
    this.#fail({
      seq: expected,
      line,
      kind: "deleted",
      detail: `Cannot verify audit record ${expected}: ${range} missing`,
    });
  }
}

function startWorkerOrInline(rootsAt: readonly number[] | null): LineHasher {
  try {
    return workerHasher(rootsAt);
  } catch {
    // No workers here (an embedder without them): same result, one thread.
    return inlineHasher(rootsAt);
  }
}

function grow(array: Int32Array): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/**
 * The cheap look at a line whose own hash is checked separately. Returns its
 * stored hash when it has the record shape and claims exactly `seq` and
 * `prev`; null when it lacks the shape (`{…,"hash":"<64>"}`); undefined when
 * the look is inconclusive and the parser must decide.
 *
 * The look is textual: the first `"prev":"` and `"seq":` key after `{` or `,`
 * must hold the expected values. In canonical JSON that is the top-level
 * member unless a nested key of the same name comes first. Accepting such a
 * line is still sound: its hash is verified and covers every byte, so whoever
 * can make a line whose first `prev` equals the previous hash can as well make
 * one whose top-level `prev` does; the writer itself always puts the right
 * values at top level.
 */
function claimsOf(
  text: string,
  start: number,
  end: number,
  seq: number,
  prev: string,
): string | null | undefined {
  const bodyEnd = end - HASH_SUFFIX_LENGTH;
  if (
    bodyEnd <= start || text.charCodeAt(start) !== 0x7b /* { */ ||
    text.charCodeAt(end - 1) !== 0x7d /* } */ || text.charCodeAt(end - 2) !== 0x22 /* " */ ||
    !text.startsWith(HASH_SUFFIX_HEAD, bodyEnd)
  ) {
    return null;
  }
  const p = findKey(text, PREV_KEY, start, bodyEnd);
  if (
    p < 0 || p + 73 > bodyEnd || !text.startsWith(prev, p + 8) ||
    text.charCodeAt(p + 72) !== 0x22 /* " */
  ) {
    return undefined;
  }
  const q = findKey(text, SEQ_KEY, start, bodyEnd);
  const digits = String(seq);
  const after = q + 6 + digits.length;
  if (q < 0 || after >= bodyEnd || !text.startsWith(digits, q + 6)) return undefined;
  const next = text.charCodeAt(after);
  return next === 0x2c /* , */ || next === 0x7d /* } */ ? text.slice(end - 66, end - 2) : undefined;
}

/**
 * First position of the key `key` (`"name":` plus, for `prev`, the opening
 * quote) after `{` or `,` in `text[start, end)`, or -1. Searches for the tail
 * of the pattern from its last name letter (`v":"`, `q":`): a rare letter
 * lets the native search skip ahead, where a leading `"` would stop it at
 * every string.
 */
function findKey(text: string, key: string, start: number, end: number): number {
  const head = key.indexOf('":') - 1;
  const tail = key.slice(head);
  let from = start + head;
  for (;;) {
    const at = text.indexOf(tail, from);
    if (at < 0 || at >= end) return -1;
    const begin = at - head;
    if (text.startsWith(key, begin) && isKeyStart(text, begin)) return begin;
    from = at + 1;
  }
}

function isKeyStart(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  return before === 0x2c /* , */ || before === 0x7b /* { */;
}

/** Strict mode: parse every line and require its exact canonical form. */
function strictFacts(line: string): LineFacts | null {
  const check = checkRecordLine(line);
  if (!check.ok) return null;
  const { hash, ...rest } = check.record;
  if (canonicalJson(rest) !== line.slice(0, -HASH_SUFFIX_LENGTH) + "}") return null;
  return { seq: check.record.seq, prev: check.record.prev, hash };
}

/** Exact `seq`, `prev` and stored `hash` of a record-shaped line. */
function parsedFacts(chunk: Chunk, start: number, end: number): LineFacts | null {
  const hash = chunk.text.slice(end - 66, end - 2);
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(chunk.bytes.subarray(start, end - HASH_SUFFIX_LENGTH)) + "}");
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { seq, prev } = value as Record<string, unknown>;
  if (
    typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1 ||
    typeof prev !== "string" || !HEX64.test(prev)
  ) {
    return null;
  }
  return { seq, prev, hash };
}

/**
 * Position of a top-level member's value in `text[start, end)`, found
 * textually. In canonical JSON a key is a quoted string right after `{` or `,`;
 * the pattern can otherwise only match a nested key of the same name, so it is
 * accepted only when it occurs once.
 */
function memberValueAt(text: string, pattern: string, start: number, end: number): number {
  const at = text.indexOf(pattern, start);
  if (at <= start || at + pattern.length > end) return -1;
  const before = text.charCodeAt(at - 1);
  if (before !== 0x2c /* , */ && before !== 0x7b /* { */) return -1;
  const again = text.indexOf(pattern, at + pattern.length);
  if (again >= 0 && again < end) return -1;
  return at + pattern.length;
}

function memberSeq(text: string, start: number, end: number): number | null {
  const from = memberValueAt(text, SEQ_KEY, start, end);
  if (from < 0) return null;
  let to = from;
  let value = 0;
  while (to < end) {
    const c = text.charCodeAt(to);
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
    to++;
  }
  const digits = to - from;
  const next = text.charCodeAt(to);
  if (
    digits === 0 || digits > 15 || (digits > 1 && text.charCodeAt(from) === 0x30) ||
    to >= end || (next !== 0x2c && next !== 0x7d)
  ) {
    return null;
  }
  return value;
}

/** The `seq` a line claims, without checking its hash (for the look-ahead). */
function quickSeq(chunk: Chunk, start: number, end: number): number | null {
  const seq = memberSeq(chunk.text, start, end);
  if (seq !== null) return seq;
  try {
    const value = JSON.parse(UTF8.decode(chunk.bytes.subarray(start, end)));
    return typeof value?.seq === "number" && Number.isSafeInteger(value.seq) ? value.seq : null;
  } catch {
    return null;
  }
}

/** Name the damage of a line that failed its check. */
function classifyBadLine(
  line: string,
  lineNo: number,
  expected: number,
  strict: boolean,
): AuditProblem {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
  if (!isObject) {
    return {
      seq: expected,
      line: lineNo,
      kind: "malformed",
      detail: line.trim() === ""
        ? `Cannot verify audit line ${lineNo}: blank line where record ${expected} should be`
        : `Cannot verify audit line ${lineNo}: not a JSON object (record ${expected} expected)`,
    };
  }
  if (strict && checkRecordLine(line).ok) {
    return {
      seq: expected,
      line: lineNo,
      kind: "malformed",
      detail: `Cannot verify audit record ${expected}: not in canonical form`,
    };
  }
  return {
    seq: expected,
    line: lineNo,
    kind: "modified",
    detail: `Cannot verify audit record ${expected}: hash mismatch`,
  };
}
