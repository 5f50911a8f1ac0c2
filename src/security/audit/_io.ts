/**
 * Small file helpers shared by the audit writer, verifier and readers.
 *
 * @module
 */

import { join } from "node:path";
import { NotFoundError } from "../../errors.ts";
import { AUDIT_FILE_NAME } from "./types.ts";

/** Write every byte of `bytes` (a single `write` may be partial). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    done += await file.write(done === 0 ? bytes : bytes.subarray(done));
  }
}

/** Write every byte of `bytes` synchronously (a single `writeSync` may be partial). */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += file.writeSync(done === 0 ? bytes : bytes.subarray(done));
  }
}

/** Read exactly `length` bytes at `offset` (fewer only if the file is shorter). */
export async function readAt(
  file: Deno.FsFile,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * Make a directory entry durable (a new or renamed file in `dir`). Best effort:
 * some platforms cannot open a directory for syncing.
 */
export async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Resolve a log location: a directory means its `audit.jsonl`, anything else is
 * taken as the file itself.
 *
 * @throws {NotFoundError} when nothing exists at `path`
 */
export async function resolveLogFile(path: string): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Cannot find audit log: no such file or directory "${path}"`, {
        cause: error,
      });
    }
    throw error;
  }
  return info.isDirectory ? join(path, AUDIT_FILE_NAME) : path;
}
