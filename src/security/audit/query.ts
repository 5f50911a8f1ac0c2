/**
 * Reading the audit log: filtered queries (`loom audit show`) and following new
 * records (`loom audit tail -f`). Both stream the file and skip lines that are
 * not records (verification is `verifyAuditLog`'s job, not theirs).
 *
 * @module
 */

import { NotFoundError } from "../../errors.ts";
import { readAt, resolveLogFile } from "./_io.ts";
import type { AuditEventName } from "./events.ts";
import type { AuditRecord } from "./types.ts";

/** Filters of {@linkcode readAuditRecords}; all given ones must match. */
export interface AuditFilter {
  /** Exact event type. */
  event?: AuditEventName;
  /** Exact agent name. */
  agent?: string;
  /** Exact tool name. */
  tool?: string;
  /** Exactly this sequence number (one record's detail). */
  seq?: number;
  /** Records with `ts` at or after this instant. */
  since?: Date;
  /** Records with `ts` at or before this instant. */
  until?: Date;
  /** Keep only the last N matches. */
  limit?: number;
}

/** Options of {@linkcode tailAuditLog}. */
export interface TailOptions {
  /** Stops following when aborted. */
  signal?: AbortSignal;
  /** First yield the last N records already in the log. Default 0. */
  last?: number;
  /** How often to look for new records, in ms. Default 200. */
  intervalMs?: number;
}

const CHUNK_BYTES = 1024 * 1024;
/** After the file shrank (a torn-tail repair), how much of its end to re-read. */
const REREAD_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * Read the records matching `filter`, in file order. Streams the file; a
 * missing log reads as empty. Lines that are not records (a torn tail) are
 * skipped.
 *
 * @param dir the log directory or the `audit.jsonl` file itself
 * @param filter event, agent, tool, time range (inclusive) and limit
 * @returns the matching records (the last `limit` of them when given)
 * @throws {RangeError} when `limit` is not a positive integer
 * @throws {TypeError} when `since` or `until` is not a valid Date
 */
export async function readAuditRecords(
  dir: string,
  filter: AuditFilter = {},
): Promise<AuditRecord[]> {
  const limit = checkLimit(filter.limit, "limit");
  const since = checkDate(filter.since, "since");
  const until = checkDate(filter.until, "until");
  // Canonical JSON writes a string member exactly as JSON.stringify does, so
  // a line that lacks this text cannot match: skip it without parsing.
  const needles: string[] = [];
  if (filter.event !== undefined) needles.push(`"event":${JSON.stringify(filter.event)}`);
  if (filter.agent !== undefined) needles.push(`"agent":${JSON.stringify(filter.agent)}`);
  if (filter.tool !== undefined) needles.push(`"tool":${JSON.stringify(filter.tool)}`);
  if (filter.seq !== undefined) needles.push(`"seq":${filter.seq},`);

  let out: AuditRecord[] = [];
  let path: string;
  try {
    path = await resolveLogFile(dir);
  } catch (error) {
    if (error instanceof NotFoundError) return out;
    throw error;
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return out;
    throw error;
  }
  try {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(CHUNK_BYTES);
    let carry = "";
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      const text = carry + decoder.decode(buffer.subarray(0, n), { stream: true });
      let pos = 0;
      for (;;) {
        const nl = text.indexOf("\n", pos);
        if (nl < 0) break;
        const line = text.slice(pos, nl);
        pos = nl + 1;
        if (!needles.every((needle) => line.includes(needle))) continue;
        const record = parseRecord(line);
        if (record === null || !matches(record, filter, since, until)) continue;
        out.push(record);
        if (limit !== undefined && out.length >= 2 * limit) out = out.slice(-limit);
      }
      carry = text.slice(pos);
    }
  } finally {
    file.close();
  }
  return limit !== undefined && out.length > limit ? out.slice(-limit) : out;
}

/**
 * Follow the log: yield records appended after the call (and first the last
 * `last` existing ones), polling the file size every `intervalMs`. Ends when
 * `signal` aborts or the consumer stops iterating. Waits for the file if it
 * does not exist yet.
 *
 * @param dir the log directory or the `audit.jsonl` file itself
 * @param options abort signal, initial backlog and poll interval
 * @returns an async iterable of records in file order
 * @throws {NotFoundError} (on first iteration) when `dir` does not exist
 * @throws {RangeError} when `last` or `intervalMs` is invalid
 */
export function tailAuditLog(dir: string, options: TailOptions = {}): AsyncIterable<AuditRecord> {
  const last = options.last ?? 0;
  if (!Number.isSafeInteger(last) || last < 0) {
    throw new RangeError("Cannot tail audit log: last must be a non-negative integer");
  }
  const intervalMs = options.intervalMs ?? 200;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError("Cannot tail audit log: intervalMs must be a positive number");
  }
  return { [Symbol.asyncIterator]: () => follow(dir, last, intervalMs, options.signal) };
}

async function* follow(
  dir: string,
  last: number,
  intervalMs: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<AuditRecord> {
  const path = await resolveLogFile(dir);
  let offset = await sizeOf(path);
  let lastSeq = await lastSeqBefore(path, offset);
  if (last > 0) {
    for (const record of await readAuditRecords(path, { limit: last })) {
      lastSeq = record.seq;
      yield record;
    }
  }
  const decoder = new TextDecoder();
  let pending: Uint8Array = new Uint8Array(0);
  let skipFirst = false;
  while (!signal?.aborted) {
    const size = await sizeOf(path);
    if (size < offset) {
      // The file was cut (torn-tail repair) and a record written in its
      // place: re-read its end; `lastSeq` drops what was already yielded.
      offset = Math.max(0, size - REREAD_BYTES);
      pending = new Uint8Array(0);
      skipFirst = offset > 0;
    }
    if (size > offset) {
      const fresh = await readRange(path, offset, size - offset);
      offset += fresh.length;
      let bytes = fresh;
      if (pending.length > 0) {
        bytes = new Uint8Array(pending.length + fresh.length);
        bytes.set(pending);
        bytes.set(fresh, pending.length);
      }
      let pos = 0;
      for (;;) {
        const nl = bytes.indexOf(NEWLINE, pos);
        if (nl < 0) break;
        const start = pos;
        pos = nl + 1;
        if (skipFirst) {
          skipFirst = false;
          continue;
        }
        const record = parseRecord(decoder.decode(bytes.subarray(start, nl)));
        if (record === null || record.seq <= lastSeq) continue;
        lastSeq = record.seq;
        yield record;
        if (signal?.aborted) return;
      }
      pending = bytes.slice(pos);
    }
    await sleep(intervalMs, signal);
  }
}

/** `seq` of the last record ending before `offset` (0 if none in the last 1 MiB). */
async function lastSeqBefore(path: string, offset: number): Promise<number> {
  if (offset === 0) return 0;
  const start = Math.max(0, offset - REREAD_BYTES);
  const bytes = await readRange(path, start, offset - start);
  const decoder = new TextDecoder();
  let end = bytes.lastIndexOf(NEWLINE);
  while (end > 0) {
    const from = bytes.lastIndexOf(NEWLINE, end - 1);
    if (from < 0 && start > 0) break;
    const record = parseRecord(decoder.decode(bytes.subarray(from + 1, end)));
    if (record !== null) return record.seq;
    end = from;
  }
  return 0;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    return await readAt(file, offset, length);
  } finally {
    file.close();
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function parseRecord(line: string): AuditRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (
    typeof record.seq !== "number" || typeof record.ts !== "string" ||
    typeof record.event !== "string" || typeof record.agent !== "string"
  ) {
    return null;
  }
  return record as AuditRecord;
}

/**
 * Whether a record passes a filter's event, agent, tool, seq and time range
 * (`limit` aside): the test of {@linkcode readAuditRecords}, for records
 * followed with {@linkcode tailAuditLog} (`loom audit tail -f`, the
 * dashboard's live stream).
 *
 * @throws {TypeError} when `since` or `until` is not a valid Date
 */
export function auditRecordMatches(record: AuditRecord, filter: AuditFilter): boolean {
  return matches(
    record,
    filter,
    checkDate(filter.since, "since"),
    checkDate(filter.until, "until"),
  );
}

function matches(
  record: AuditRecord,
  filter: AuditFilter,
  since: number | undefined,
  until: number | undefined,
): boolean {
  if (filter.event !== undefined && record.event !== filter.event) return false;
  if (filter.agent !== undefined && record.agent !== filter.agent) return false;
  if (filter.tool !== undefined && record.tool !== filter.tool) return false;
  if (filter.seq !== undefined && record.seq !== filter.seq) return false;
  if (since !== undefined || until !== undefined) {
    const ts = Date.parse(record.ts);
    if (Number.isNaN(ts)) return false;
    if (since !== undefined && ts < since) return false;
    if (until !== undefined && ts > until) return false;
  }
  return true;
}

function checkLimit(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot read audit records: ${name} must be a positive integer`);
  }
  return value;
}

function checkDate(value: Date | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(`Cannot read audit records: ${name} must be a valid Date`);
  }
  return value.getTime();
}
