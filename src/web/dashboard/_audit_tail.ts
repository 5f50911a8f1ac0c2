/**
 * The end of the audit log, read backwards from its last byte, so a page
 * costs the same on a log of a hundred records and of a hundred million:
 * at most `maxRecords` records, at most `maxBytes` bytes, and nothing older
 * than `since`. Lines that are not records (a torn tail) are skipped, as
 * `readAuditRecords()` (`loom audit show`) skips them; verifying is
 * `checkAuditLog()`'s job.
 *
 * @module
 */

import { join } from "node:path";
import { AUDIT_FILE_NAME, type AuditRecord } from "../../security/audit/mod.ts";

/** Limits of {@linkcode readAuditTail}. */
export interface TailLimits {
  /** Keep at most this many of the newest records (default 20 000). */
  maxRecords?: number;
  /** Read at most this many bytes from the end (default 32 MiB). */
  maxBytes?: number;
  /** Keep only records at or after this instant. */
  since?: Date;
}

const CHUNK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

/**
 * The newest records of the log in `dir`, oldest first.
 *
 * @param dir the audit directory (`home.audit`)
 * @param limits records, bytes and age
 * @returns the records; a missing log reads as empty
 */
export async function readAuditTail(dir: string, limits: TailLimits = {}): Promise<AuditRecord[]> {
  const maxRecords = limits.maxRecords ?? 20_000;
  const maxBytes = limits.maxBytes ?? 32 * 1024 * 1024;
  const since = limits.since?.getTime() ?? -Infinity;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(dir, AUDIT_FILE_NAME), { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const newestFirst: AuditRecord[] = [];
  try {
    const size = (await file.stat()).size;
    const floor = Math.max(0, size - maxBytes);
    const decoder = new TextDecoder();
    let end = size;
    let carry = new Uint8Array(0);
    let done = false;
    while (end > floor && !done) {
      const start = Math.max(floor, end - CHUNK_BYTES);
      const chunk = await readRange(file, start, end - start);
      const bytes = concat(chunk, carry);
      let stop = bytes.length;
      for (;;) {
        const nl = bytes.lastIndexOf(NEWLINE, stop - 1);
        if (nl < 0) break;
        const record = parseRecord(decoder.decode(bytes.subarray(nl + 1, stop)));
        stop = nl;
        if (record === null) continue;
        if (Date.parse(record.ts) < since || newestFirst.length >= maxRecords) {
          done = true;
          break;
        }
        newestFirst.push(record);
      }
      carry = bytes.slice(0, stop);
      end = start;
    }
    if (!done && end === 0 && carry.length > 0) {
      const record = parseRecord(decoder.decode(carry));
      if (record !== null && Date.parse(record.ts) >= since && newestFirst.length < maxRecords) {
        newestFirst.push(record);
      }
    }
  } finally {
    file.close();
  }
  return newestFirst.reverse();
}

async function readRange(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(out.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return out.subarray(0, filled);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function parseRecord(line: string): AuditRecord | null {
  if (line.trim() === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.seq !== "number" || typeof r.ts !== "string" || typeof r.event !== "string") {
    return null;
  }
  return r as unknown as AuditRecord;
}
