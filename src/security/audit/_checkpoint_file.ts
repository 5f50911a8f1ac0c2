/**
 * The files beside the audit log that the checkpoint writer keeps: the log's
 * random id (`audit.id`) and the tail of `checkpoints.jsonl` (the last
 * checkpoint, the last one carrying resume hints, and the repair of a line a
 * crash tore).
 *
 * @module
 */

import { join } from "node:path";
import { readPrivateFile, writeFileExclusive } from "../../store/mod.ts";
import {
  isLogId,
  LOG_ID_FILE_NAME,
  newLogId,
  parseCheckpointLine,
  type StoredCheckpoint,
} from "./checkpoint.ts";
import { readAt } from "./_io.ts";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
/** How far back from the end of the checkpoint file a restarted writer looks for its hints. */
const TAIL_BYTES = 256 * 1024;

/** Read the log's id, creating it (0600, exclusively) when there is none. */
export async function openLogId(dir: string): Promise<string> {
  const path = join(dir, LOG_ID_FILE_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    const bytes = await readPrivateFile(path, "audit log id", { maxBytes: 256 });
    if (bytes !== null) {
      const id = DECODER.decode(bytes).trim();
      if (!isLogId(id)) throw new TypeError(`Cannot use audit log id "${path}": malformed`);
      return id;
    }
    await writeFileExclusive(path, ENCODER.encode(newLogId() + "\n"));
  }
  throw new Deno.errors.NotFound(`Cannot read audit log id "${path}"`);
}

/** The stored checkpoints in the last `TAIL_BYTES` of an open file, oldest first. */
async function readTail(file: Deno.FsFile): Promise<StoredCheckpoint[]> {
  const size = (await file.stat()).size;
  if (size === 0) return [];
  const start = Math.max(0, size - TAIL_BYTES);
  const lines = DECODER.decode(await readAt(file, start, size - start)).split("\n");
  if (start > 0) lines.shift();
  const out: StoredCheckpoint[] = [];
  for (const line of lines) {
    const parsed = parseCheckpointLine(line);
    if (parsed.ok) out.push(parsed.value);
  }
  return out;
}

/** The last stored checkpoint of an open file, or null. */
export async function readLastStored(file: Deno.FsFile): Promise<StoredCheckpoint | null> {
  return (await readTail(file)).at(-1) ?? null;
}

/**
 * After cutting a torn last line a crash left (the checkpoint it held is
 * simply not there; the records it covered are in the log): the last
 * checkpoint of the file, and the last one carrying resume hints.
 */
export async function repairAndReadTail(
  path: string,
): Promise<{ last: StoredCheckpoint | null; withHints: StoredCheckpoint | null }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { last: null, withHints: null };
    throw error;
  }
  try {
    await file.lock(true);
    const size = (await file.stat()).size;
    if (size > 0) {
      const lastByte = await readAt(file, size - 1, 1);
      if (lastByte[0] !== 0x0a) {
        const start = Math.max(0, size - TAIL_BYTES);
        const bytes = await readAt(file, start, size - start);
        const nl = bytes.lastIndexOf(0x0a);
        if (nl >= 0 || start === 0) {
          await file.truncate(start + nl + 1);
          await file.syncData();
        }
      }
    }
    const stored = await readTail(file);
    const withHints = stored.findLast((s) => s.range !== null && s.offset !== null) ?? null;
    return { last: stored.at(-1) ?? null, withHints };
  } finally {
    file.close();
  }
}
