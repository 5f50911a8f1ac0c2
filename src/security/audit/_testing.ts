/**
 * Helpers for this folder's tests only.
 *
 * @module
 */

import { join } from "node:path";
import { AuditLog } from "./log.ts";
import type { AuditEvent } from "./events.ts";
import { AUDIT_FILE_NAME, type AuditEntryInput, GENESIS_HASH } from "./types.ts";
import { publicKeyFileOf, readTrustedKey, type TrustedKey } from "./checkpoint_keys.ts";
import { HASH_SUFFIX_HEAD, sha256Hex } from "./_format.ts";
import { canonicalJson } from "../../_util/canonical_json.ts";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
import { tempDir as sharedTempDir } from "../../../tests/_helpers.ts";

/** A temp directory removed on dispose. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
  /** The `audit.jsonl` inside it. */
  readonly log: string;
}

/** Make a temp directory that `await using` removes (the shared one, plus its log path). */
export async function tempDir(): Promise<TempDir> {
  const dir = await sharedTempDir("loom_audit_test_");
  return {
    path: dir.path,
    log: join(dir.path, AUDIT_FILE_NAME),
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

/** A sample event (a call's intent); `i` varies its fields. */
export function sampleEntry(i: number): AuditEvent {
  return {
    event: "tool_call",
    agent: i % 3 === 0 ? "github" : "weather",
    tool: i % 2 === 0 ? "list_issues" : "forecast",
    call: `test-${i}`,
    phase: "intent",
    method: "GET",
    args: { page: i % 7, q: `query ${i}` },
    tier: 1,
    client: null,
  };
}

/** A small valid event: an agent's stop. */
export function stopEvent(agent = "a"): AuditEvent {
  return { event: "agent_lifecycle", agent, tool: null, action: "stop", transport: "stdio" };
}

/**
 * An entry of any shape, for the tests of the log's own rules (reserved
 * names, JSON values, sizes), which hold for whatever fields a record has.
 */
export function rawEntry(entry: AuditEntryInput): AuditEvent {
  return entry as unknown as AuditEvent;
}

/** Append `count` sample records to the log in `dir` (in batches of 256). */
export async function writeRecords(dir: string, count: number): Promise<void> {
  await using log = await AuditLog.open(dir);
  for (let i = 0; i < count; i += 256) {
    const n = Math.min(256, count - i);
    await Promise.all(Array.from({ length: n }, (_, j) => log.append(sampleEntry(i + j))));
  }
}

/** Split file bytes into lines (without newlines); a trailing partial line is kept. */
export function splitLines(bytes: Uint8Array): Uint8Array[] {
  const lines: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const nl = bytes.indexOf(0x0a, pos);
    const end = nl < 0 ? bytes.length : nl;
    lines.push(bytes.slice(pos, end));
    pos = end + 1;
  }
  return lines;
}

/** Join lines, each followed by a newline. */
export function joinLines(lines: readonly Uint8Array[]): Uint8Array {
  const size = lines.reduce((sum, line) => sum + line.length + 1, 0);
  const out = new Uint8Array(size);
  let pos = 0;
  for (const line of lines) {
    out.set(line, pos);
    pos += line.length;
    out[pos++] = 0x0a;
  }
  return out;
}

/** A log with signed checkpoints in a temp home: its directory, key file and trusted key. */
export interface CheckpointedLog {
  /** The audit directory. */
  readonly dir: string;
  /** The signing key file (outside `dir`). */
  readonly keyFile: string;
  /** The public key the verifier trusts. */
  readonly trusted: TrustedKey;
}

/**
 * Write `count` sample records into `<root>/audit` with a checkpoint every
 * `everyRecords` records (batches of `batch` appends; the clock never moves,
 * so only the record count and the close make checkpoints).
 */
export async function writeCheckpointedLog(
  root: string,
  count: number,
  everyRecords: number,
  batch = 1,
): Promise<CheckpointedLog> {
  const dir = join(root, "audit");
  const keyFile = join(root, "keys", "audit-signing.key");
  {
    await using log = await AuditLog.open(dir, {
      checkpoints: { keyFile, everyRecords, now: () => 0, timer: false },
    });
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      await Promise.all(Array.from({ length: n }, (_, j) => log.append(sampleEntry(i + j))));
      // A due checkpoint is written off the append path; wait for it, so it covers exactly
      // the records so far and not those a loaded machine appends while it is signed.
      await log.checkpointIfDue();
    }
  }
  const trusted = await readTrustedKey(publicKeyFileOf(keyFile));
  if (trusted === null) throw new Error("no public key written");
  return { dir, keyFile, trusted };
}

/**
 * Re-seal lines from index `from` on: parse each record, let `mutate` change
 * the one at `from`, then recompute every `hash` and `prev` after it, as an
 * attacker who can edit the file (but not sign) would.
 */
export function resealFrom(
  lines: readonly Uint8Array[],
  from: number,
  mutate: (record: Record<string, unknown>) => void,
): Uint8Array[] {
  const out = lines.slice(0, from);
  let prev = from === 0 ? GENESIS_HASH : String(JSON.parse(DECODER.decode(lines[from - 1])).hash);
  for (let i = from; i < lines.length; i++) {
    const { hash: _old, ...record } = JSON.parse(DECODER.decode(lines[i]));
    if (i === from) mutate(record);
    record.prev = prev;
    const body = canonicalJson(record);
    prev = sha256Hex(body);
    out.push(ENCODER.encode(body.slice(0, -1) + HASH_SUFFIX_HEAD + prev + '"}'));
  }
  return out;
}
