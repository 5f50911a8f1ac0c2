/**
 * Signed checkpoints of the audit log (`docs/security-requirements.md`, AUD-10,
 * AUD-12 to AUD-15).
 *
 * A plain hash chain proves that no record inside it was changed, but not
 * that the chain is the one that was written: whoever can edit the file can
 * cut its last records, or change a record and recompute every hash after it,
 * and the chain still verifies. A checkpoint commits to the log at some
 * moment: its size, the root of the Merkle tree over its records (`merkle.ts`,
 * RFC 9162 hashing, leaf `i` = SHA-256(0x00 ‖ the 32 bytes of record `i`'s
 * hash)) and the chain's head hash. It is signed with an Ed25519 key kept
 * outside the log directory (`$LOOM_HOME/keys/audit-signing.key`, 0600, never
 * readable by agent hosts), so someone who can edit the log but not read that
 * key cannot make a checkpoint agree with a shortened or rewritten log.
 *
 * Format: a signed note in the C2SP checkpoint layout, so tools that speak
 * transparency-log checkpoints can read it. The body is
 *
 * ```text
 * loom/<log id>/audit          origin: names this log, so one log's checkpoint cannot vouch for another
 * <size>                       records covered, decimal
 * <root>                       Merkle root, standard base64
 * head <64 hex>                the chain hash of record <size> (genesis when 0)
 * time <ISO-8601 UTC>          when it was signed
 * opened <ISO-8601 UTC>        when the writer that signed it started
 * prev <64 hex | ->            SHA-256 of the previous checkpoint's body ("-" for the first)
 * heartbeat <seconds>          (optional) the idle cadence the writer keeps
 * ```
 *
 * then an empty line and one signature line per signer,
 * `— loom-audit <base64(4-byte key hint ‖ 64-byte Ed25519 signature)>`, the
 * signature covering the body's bytes. The key hint is the first four bytes of
 * SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key). A verifier ignores signature lines
 * of keys it does not know, so a witness can add its own cosignature and keys
 * can be rotated.
 *
 * `prev` chains the checkpoints: deleting one from the middle of the file
 * breaks the chain (a `gap`), which the key holder alone could hide. The
 * writer also signs a heartbeat checkpoint when idle, so a silent interval is
 * itself visible.
 *
 * One checkpoint is one line of `checkpoints.jsonl` beside the log:
 * `{"note":"<note text>","offset":N,"range":["<hex>",…]}`. `offset` (where
 * record size+1 starts in `audit.jsonl`) and `range` (the Merkle compact range
 * of the covered records) let a restarted writer continue without re-reading
 * the whole log; they are hints, checked against the signed root before use,
 * and `loom audit verify` never trusts them. `loom audit checkpoint` prints
 * the note alone, the form to keep elsewhere and give back to
 * `loom audit verify --against`.
 *
 * Signing and the keys are in `checkpoint_keys.ts`. Trust comes from the
 * public key the verifier pins (the `.pub` file beside the private key, or one
 * the auditor passes), never from the note.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";

/** The checkpoint file's name inside the log directory. */
export const CHECKPOINT_FILE_NAME = "checkpoints.jsonl";

/** The file holding the log's random id, inside the log directory. */
export const LOG_ID_FILE_NAME = "audit.id";

/** The key name in signature lines. */
export const CHECKPOINT_KEY_NAME = "loom-audit";

/** What starts a signature line of a signed note (an em dash and a space). */
export const SIGNATURE_PREFIX = "\u2014 ";
const HEX64 = /^[0-9a-f]{64}$/;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const LOG_ID = /^[A-Za-z0-9-]{8,64}$/;
const ORIGIN = /^loom\/([A-Za-z0-9-]{8,64})\/audit$/;
/** The largest note read (a body and a few signatures). */
const MAX_NOTE_BYTES = 4096;
/** The most compact-range nodes a line may carry (one per bit of a 53-bit size). */
const MAX_RANGE_NODES = 53;

/** The genesis head: the chain hash before the first record. */
const ZERO_HASH = "0".repeat(64);

/** What a checkpoint commits to: its body's fields. */
export interface CheckpointBody {
  /** The log's random id (`audit.id`); the origin is `loom/<log>/audit`. */
  readonly log: string;
  /** Records covered: the `seq` of the head record. */
  readonly size: number;
  /** Merkle root of records 1..size, standard base64 of 32 bytes. */
  readonly root: string;
  /** The chain hash of record `size` (64 zeros when the log is empty). */
  readonly head: string;
  /** When it was signed, ISO-8601 UTC. */
  readonly time: string;
  /** When the writer that signed it started, ISO-8601 UTC. */
  readonly opened: string;
  /** Hex SHA-256 of the previous checkpoint's body, or null for the first. */
  readonly prev: string | null;
  /** The idle heartbeat the writer keeps, in seconds, or null when none. */
  readonly heartbeat: number | null;
}

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  /** The 4-byte key hint, as 8 hex digits. */
  readonly hint: string;
  /** The signature bytes after the hint. */
  readonly signature: Uint8Array;
}

/** A parsed checkpoint: its body, the exact signed text, and its signatures. */
export interface Checkpoint extends CheckpointBody {
  /** The body text the signatures cover (ends with a newline). */
  readonly body: string;
  /** The whole note: body, empty line, signature lines. */
  readonly note: string;
  readonly signatures: readonly NoteSignature[];
}

/** A stored checkpoint line: the note and the writer's hints. */
export interface StoredCheckpoint {
  readonly checkpoint: Checkpoint;
  /** Byte offset of record size+1 in `audit.jsonl`, when recorded. */
  readonly offset: number | null;
  /** The Merkle compact range of records 1..size (hex), when recorded. */
  readonly range: readonly string[] | null;
}

/** The outcome of a parse. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

/** The origin line of a log's checkpoints. */
export function originOf(log: string): string {
  return `loom/${log}/audit`;
}

/** The genesis head hash (before record 1). */
export const GENESIS_HEAD = ZERO_HASH;

/** The body text of a checkpoint (what its signatures cover). */
export function formatBody(b: CheckpointBody): string {
  let text = `${originOf(b.log)}\n${b.size}\n${b.root}\n` +
    `head ${b.head}\ntime ${b.time}\nopened ${b.opened}\nprev ${b.prev ?? "-"}\n`;
  if (b.heartbeat !== null) text += `heartbeat ${b.heartbeat}\n`;
  return text;
}

/** Hex SHA-256 of a body text: what the next checkpoint's `prev` names. */
export function bodyDigest(body: string): string {
  return createHash("sha256").update(body).digest("hex");
}

/**
 * Parse a signed note into a checkpoint. Checks the layout only; signatures
 * are checked by {@linkcode checkCheckpointSignature}.
 */
export function parseNote(note: string): Parsed<Checkpoint> {
  if (note.length > MAX_NOTE_BYTES) return fail(`longer than ${MAX_NOTE_BYTES} bytes`);
  const split = note.indexOf("\n\n");
  if (split < 0) return fail("no empty line between body and signatures");
  const body = note.slice(0, split + 1);
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 7) return fail("body has fewer than 7 lines");
  const origin = ORIGIN.exec(lines[0]);
  if (origin === null) return fail("origin line");
  if (!DECIMAL.test(lines[1]) || !Number.isSafeInteger(Number(lines[1]))) return fail("size line");
  if (!B64.test(lines[2]) || Buffer.from(lines[2], "base64").length !== 32) {
    return fail("root line");
  }
  const ext = new Map<string, string>();
  for (const line of lines.slice(3)) {
    const space = line.indexOf(" ");
    const key = space < 0 ? line : line.slice(0, space);
    if (ext.has(key) || space < 0) return fail(`extension line "${key.slice(0, 16)}"`);
    ext.set(key, line.slice(space + 1));
  }
  const head = ext.get("head");
  const time = ext.get("time");
  const opened = ext.get("opened");
  const prev = ext.get("prev");
  const heartbeat = ext.get("heartbeat");
  if (head === undefined || !HEX64.test(head)) return fail("head line");
  if (time === undefined || !isIsoTime(time)) return fail("time line");
  if (opened === undefined || !isIsoTime(opened)) return fail("opened line");
  if (prev === undefined || (prev !== "-" && !HEX64.test(prev))) return fail("prev line");
  if (heartbeat !== undefined && (!DECIMAL.test(heartbeat) || heartbeat === "0")) {
    return fail("heartbeat line");
  }
  if (ext.size !== (heartbeat === undefined ? 4 : 5)) return fail("unknown extension line");
  const signatures: NoteSignature[] = [];
  const sigText = note.slice(split + 2);
  if (!sigText.endsWith("\n")) return fail("signature lines do not end with a newline");
  for (const line of sigText.slice(0, -1).split("\n")) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return fail("signature line");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space <= 0) return fail("signature line");
    const bytes = Buffer.from(rest.slice(space + 1), "base64");
    if (!B64.test(rest.slice(space + 1)) || bytes.length < 5) return fail("signature line");
    signatures.push({
      name: rest.slice(0, space),
      hint: bytes.subarray(0, 4).toString("hex"),
      signature: new Uint8Array(bytes.subarray(4)),
    });
  }
  if (signatures.length === 0) return fail("no signature line");
  return {
    ok: true,
    value: {
      log: origin[1],
      size: Number(lines[1]),
      root: lines[2],
      head,
      time,
      opened,
      prev: prev === "-" ? null : prev,
      heartbeat: heartbeat === undefined ? null : Number(heartbeat),
      body,
      note,
      signatures,
    },
  };
}

function fail<T>(what: string): Parsed<T> {
  return { ok: false, reason: `malformed ${what}` };
}

function isIsoTime(text: string): boolean {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(text) &&
    !Number.isNaN(Date.parse(text));
}

/** The line (with newline) a checkpoint is stored as in `checkpoints.jsonl`. */
export function formatCheckpointLine(
  checkpoint: Checkpoint,
  hints: { offset?: number; range?: readonly string[] } = {},
): string {
  const value: Record<string, unknown> = { note: checkpoint.note };
  if (hints.offset !== undefined) value.offset = hints.offset;
  if (hints.range !== undefined) value.range = hints.range;
  return JSON.stringify(value) + "\n";
}

/** Parse one line of `checkpoints.jsonl` (without its newline). Checks the shape only. */
export function parseCheckpointLine(line: string): Parsed<StoredCheckpoint> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" };
  }
  const v = value as Record<string, unknown>;
  if (typeof v.note !== "string") {
    return {
      ok: false,
      reason: 'no "note" (a checkpoint line of an earlier LOOM, or not a checkpoint)',
    };
  }
  const parsed = parseNote(v.note);
  if (!parsed.ok) return parsed;
  let offset: number | null = null;
  if (v.offset !== undefined) {
    if (!Number.isSafeInteger(v.offset) || (v.offset as number) < 0) {
      return { ok: false, reason: 'malformed "offset"' };
    }
    offset = v.offset as number;
  }
  let range: string[] | null = null;
  if (v.range !== undefined) {
    if (
      !Array.isArray(v.range) || v.range.length > MAX_RANGE_NODES ||
      !v.range.every((h) => typeof h === "string" && HEX64.test(h))
    ) return { ok: false, reason: 'malformed "range"' };
    range = v.range as string[];
  }
  return { ok: true, value: { checkpoint: parsed.value, offset, range } };
}

/**
 * Read exported checkpoints: notes one after another (as `loom audit
 * checkpoint` prints them), or lines of a `checkpoints.jsonl`. Each comes with
 * the line it starts on.
 */
export function parseExported(text: string): { line: number; parsed: Parsed<Checkpoint> }[] {
  const out: { line: number; parsed: Parsed<Checkpoint> }[] = [];
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i++;
      continue;
    }
    if (line.startsWith("{")) {
      const parsed = parseCheckpointLine(line);
      out.push({
        line: i + 1,
        parsed: parsed.ok ? { ok: true, value: parsed.value.checkpoint } : parsed,
      });
      i++;
      continue;
    }
    // A note: body lines up to the empty line, then signature lines.
    const start = i;
    while (i < lines.length && lines[i] !== "") i++;
    i++;
    while (i < lines.length && lines[i].startsWith(SIGNATURE_PREFIX)) i++;
    out.push({ line: start + 1, parsed: parseNote(lines.slice(start, i).join("\n") + "\n") });
  }
  return out;
}

/** A new random log id: `loom-` and a UUID. */
export function newLogId(): string {
  return `loom-${crypto.randomUUID()}`;
}

/** Whether `text` is a well-formed log id. */
export function isLogId(text: string): boolean {
  return LOG_ID.test(text);
}
