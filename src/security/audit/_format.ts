/**
 * The on-disk line format of the audit log.
 *
 * A record is hashed as `H = hex(SHA-256(UTF-8(C)))` where `C` is the canonical
 * JSON (`canonicalJson`, keys sorted) of the record **without** `hash` but with
 * `prev`. The stored line is `C` with one member appended before its closing
 * brace, then a newline:
 *
 * ```text
 * C without its final "}"  +  ,"hash":"<H>"}  +  \n
 * ```
 *
 * So `hash` is always the last member (the only departure from canonical key
 * order), and the hash input is recovered textually: drop the fixed 75-character
 * suffix `,"hash":"<64 hex>"}` and put the `}` back. The verifier never has to
 * re-serialise a record to check it, which keeps `audit verify` near the cost of
 * one SHA-256 per line.
 *
 * Checkpoints (`checkpoint.ts`) commit to `(seq, hash)` of a record: because each
 * `hash` covers `prev`, it commits to the whole prefix of the chain. A Merkle
 * tree can use `SHA-256(0x00 ‖ hash bytes)` as its leaves (RFC 9162 §2.1.1 domain
 * separation) without re-reading the records.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { canonicalJson } from "../../_util/canonical_json.ts";
import { AUDIT_EVENTS } from "./events.ts";
import { type AuditEntryInput, type AuditRecord, MAX_RECORD_BYTES } from "./types.ts";

/** Length of the textual suffix `,"hash":"<64 hex>"}` of every line. */
export const HASH_SUFFIX_LENGTH = 75;

/** The start of that suffix. */
export const HASH_SUFFIX_HEAD = ',"hash":"';

const RESERVED: ReadonlySet<string> = new Set(["seq", "ts", "prev", "hash"]);
const EVENTS: ReadonlySet<string> = new Set(AUDIT_EVENTS);
const HEX64 = /^[0-9a-f]{64}$/;
const ENCODER = new TextEncoder();
/** JSON-quoted field names: a small set, quoted again and again. */
const QUOTED_KEYS = new Map<string, string>();
const MAX_QUOTED_KEYS = 4096;
let isoSecond = Number.NaN;
let isoPrefix = "";

/**
 * An entry serialised ahead of time except for `prev` and `seq`, which are
 * only known when the writer orders it: the record text without `hash` is
 * `head + prev + mid + seq + tail`.
 */
export interface PreparedEntry {
  readonly head: string;
  readonly mid: string;
  readonly tail: string;
}

/** A record ready to write. */
export interface SealedEntry {
  /** The full line, newline included. */
  readonly line: string;
  /** Its hash. */
  readonly hash: string;
}

/** Hex SHA-256 of the UTF-8 encoding of `text`. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * ISO-8601 UTC with milliseconds (`Date#toISOString` format), caching the part
 * up to the second: formatting a Date costs more than the rest of a record.
 *
 * @param ms epoch milliseconds (an integer, years 0 to 9999)
 */
export function isoTimestamp(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    isoSecond = second;
  }
  const frac = ms - second * 1000;
  return isoPrefix + (frac < 10 ? ".00" : frac < 100 ? ".0" : ".") + frac + "Z";
}

function quoteKey(key: string): string {
  let quoted = QUOTED_KEYS.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (QUOTED_KEYS.size >= MAX_QUOTED_KEYS) QUOTED_KEYS.clear();
    QUOTED_KEYS.set(key, quoted);
  }
  return quoted;
}

/**
 * Validate an entry and serialise it canonically, leaving holes for `prev` and
 * `seq`.
 *
 * @param input the caller's entry
 * @param ts the timestamp to record
 * @returns the prepared entry
 * @throws {TypeError} on a reserved field name, an unknown event, a missing
 *   agent, a non-string tool or a value that is not JSON
 * @throws {RangeError} when the record would exceed {@linkcode MAX_RECORD_BYTES}
 */
export function prepareEntry(input: AuditEntryInput, ts: string): PreparedEntry {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new TypeError("Cannot append audit entry: entry must be an object");
  }
  // No prototype: a field named "__proto__" stays an ordinary member.
  const fields: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(input)) {
    if (RESERVED.has(key)) {
      throw new TypeError(`Cannot append audit entry: field "${key}" is reserved`);
    }
    const value = input[key];
    if (value !== undefined) fields[key] = value;
  }
  if (typeof input.event !== "string" || !EVENTS.has(input.event)) {
    throw new TypeError(
      `Cannot append audit entry: unknown event ${JSON.stringify(String(input.event))}`,
    );
  }
  if (typeof input.agent !== "string" || input.agent === "") {
    throw new TypeError("Cannot append audit entry: agent must be a non-empty string");
  }
  const tool = input.tool ?? null;
  if (tool !== null && typeof tool !== "string") {
    throw new TypeError("Cannot append audit entry: tool must be a string or null");
  }
  fields.tool = tool;
  fields.ts = ts;

  const keys = Object.keys(fields);
  keys.push("prev", "seq");
  // Default sort compares UTF-16 code units, the order canonicalJson uses.
  keys.sort();
  let out = "{";
  let head = "";
  let mid = "";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (i > 0) out += ",";
    out += quoteKey(key) + ":";
    if (key === "prev") {
      head = out + '"';
      out = '"';
    } else if (key === "seq") {
      mid = out;
      out = "";
    } else {
      out += canonicalJson(fields[key]);
    }
  }
  const tail = out + "}";
  // A line adds at most 16 digits of seq, 64 of prev, the hash suffix and a
  // newline to these parts; encode only when the cheap bound is exceeded.
  const fixed = 16 + 64 + HASH_SUFFIX_LENGTH + 1;
  const chars = head.length + mid.length + tail.length;
  if (
    (chars + fixed) * 3 > MAX_RECORD_BYTES &&
    ENCODER.encode(head + mid + tail).length + fixed > MAX_RECORD_BYTES
  ) {
    throw new RangeError(
      `Cannot append audit entry: record is larger than ${MAX_RECORD_BYTES} bytes`,
    );
  }
  return { head, mid, tail };
}

/**
 * Fill in `prev` and `seq`, hash, and produce the line to write.
 *
 * @param entry a prepared entry
 * @param seq its position in the chain
 * @param prev the hash of the record before it
 * @returns the line (with newline) and the record's hash
 */
export function sealEntry(entry: PreparedEntry, seq: number, prev: string): SealedEntry {
  const body = entry.head + prev + entry.mid + seq + entry.tail;
  const hash = sha256Hex(body);
  return { line: body.slice(0, -1) + HASH_SUFFIX_HEAD + hash + '"}\n', hash };
}

/** The outcome of {@linkcode checkRecordLine}. */
export type LineCheck =
  | { readonly ok: true; readonly record: AuditRecord }
  | { readonly ok: false; readonly parsed: boolean };

/**
 * Fully check one line (without its newline): it parses to a record object with
 * a well-formed `seq`, `prev` and `hash`, its suffix carries that hash and the
 * hash matches its content. `parsed` tells a line that is not a JSON object
 * apart from one that is but does not verify.
 */
export function checkRecordLine(line: string): LineCheck {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, parsed: false };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, parsed: false };
  }
  const record = value as Record<string, unknown>;
  const { seq, prev, hash } = record;
  if (
    typeof hash !== "string" || !HEX64.test(hash) ||
    typeof prev !== "string" || !HEX64.test(prev) ||
    typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1 ||
    !line.endsWith(HASH_SUFFIX_HEAD + hash + '"}') ||
    line.length <= HASH_SUFFIX_LENGTH ||
    sha256Hex(line.slice(0, -HASH_SUFFIX_LENGTH) + "}") !== hash
  ) {
    return { ok: false, parsed: true };
  }
  return { ok: true, record: record as AuditRecord };
}
