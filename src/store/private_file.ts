/**
 * Files under `$LOOM_HOME` that must stay private to the user running LOOM:
 * the master key, the secrets vault, the state database. A file that group or
 * others can read or write, that another uid owns, or that is not a regular
 * file (a symlink could point anywhere) is refused rather than "fixed": if it
 * was ever exposed, tightening the mode now does not undo that.
 *
 * Writes are atomic: a temp file (mode 0600, created exclusively) is written,
 * fsynced and renamed over the target, then the directory is fsynced, so a
 * crash leaves either the old or the new file, never a half-written one.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { PolicyError } from "../errors.ts";

const POSIX = Deno.build.os !== "windows";

/**
 * Check that file information describes a private regular file.
 *
 * @param info from `Deno.lstat` or `FsFile.stat()`
 * @param path the file, for the message
 * @param what what the file is, e.g. `"master key file"`
 * @throws {PolicyError} when the file is not regular, is group/other accessible or foreign-owned
 */
export function checkPrivateFile(info: Deno.FileInfo, path: string, what: string): void {
  if (info.isSymlink || !info.isFile) {
    throw new PolicyError(`Cannot use ${what} "${path}": it is not a regular file`);
  }
  checkOwnerAndMode(info, path, what, "600");
}

/**
 * Check that file information describes a private directory.
 *
 * @param info from `Deno.lstat`
 * @param path the directory, for the message
 * @param what what the directory is, e.g. `"key directory"`
 * @throws {PolicyError} when it is not a directory, is group/other accessible or foreign-owned
 */
export function checkPrivateDir(info: Deno.FileInfo, path: string, what: string): void {
  if (info.isSymlink || !info.isDirectory) {
    throw new PolicyError(`Cannot use ${what} "${path}": it is not a directory`);
  }
  checkOwnerAndMode(info, path, what, "700");
}

function checkOwnerAndMode(info: Deno.FileInfo, path: string, what: string, fix: string): void {
  if (!POSIX) return;
  const uid = currentUid();
  if (info.uid !== null && uid !== null && info.uid !== uid) {
    throw new PolicyError(
      `Cannot use ${what} "${path}": it is owned by uid ${info.uid}, not by this user (uid ${uid})`,
    );
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    throw new PolicyError(
      `Cannot use ${what} "${path}": it is accessible by group or others (mode ${mode}); ` +
        `run "chmod ${fix}" on it`,
    );
  }
}

let cachedUid: number | null | undefined;

/**
 * This process's uid. `Deno.uid()` needs `--allow-sys`, which LOOM does not
 * ask for; without it, the owner of `/proc/self` (Linux) or of a fresh temp
 * file is the same number.
 */
function currentUid(): number | null {
  if (cachedUid !== undefined) return cachedUid;
  try {
    // Query first: on a terminal, calling Deno.uid() unpermitted would prompt.
    if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state !== "granted") {
      throw new Deno.errors.NotCapable("sys access to uid not granted");
    }
    cachedUid = Deno.uid();
  } catch {
    try {
      cachedUid = Deno.statSync("/proc/self").uid;
    } catch {
      try {
        const probe = Deno.makeTempFileSync({ prefix: "loom-uid-" });
        try {
          cachedUid = Deno.statSync(probe).uid;
        } finally {
          Deno.removeSync(probe);
        }
      } catch {
        cachedUid = null; // unknown: the mode check still applies
      }
    }
  }
  return cachedUid;
}

/**
 * `lstat` a file that must be private.
 *
 * @param path the file
 * @param what what the file is, for messages
 * @returns its information, or null when it does not exist
 * @throws {PolicyError} see {@linkcode checkPrivateFile}
 */
export async function statPrivateFile(path: string, what: string): Promise<Deno.FileInfo | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  checkPrivateFile(info, path, what);
  return info;
}

/**
 * Create a directory with mode 0700 (parents too) and check it is private.
 *
 * @param path the directory
 * @param what what it is, for messages
 * @throws {PolicyError} when it exists but is not private
 */
export async function ensurePrivateDir(path: string, what: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  checkPrivateDir(await Deno.lstat(path), path, what);
}

/**
 * Read a whole private file, checking the opened handle (not the path, which
 * could be swapped between a check and the open).
 *
 * @param path the file
 * @param what what it is, for messages
 * @param options `maxBytes`: refuse larger files
 * @returns the bytes, or null when the file does not exist
 * @throws {PolicyError} when the file is not private
 * @throws {RangeError} when it is larger than `maxBytes`
 */
export async function readPrivateFile(
  path: string,
  what: string,
  options: { maxBytes: number },
): Promise<Uint8Array | null> {
  // lstat first: open() follows symlinks, fstat would describe the target.
  if (await statPrivateFile(path, what) === null) return null;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const info = await file.stat();
    checkPrivateFile(info, path, what);
    if (info.size > options.maxBytes) {
      throw new RangeError(`Cannot read ${what} "${path}": larger than ${options.maxBytes} bytes`);
    }
    const out = new Uint8Array(info.size);
    let offset = 0;
    while (offset < out.length) {
      const n = await file.read(out.subarray(offset));
      if (n === null) break;
      offset += n;
    }
    return offset === out.length ? out : out.subarray(0, offset);
  } finally {
    file.close();
  }
}

/**
 * Replace a file atomically: write a 0600 temp file beside it, fsync, rename
 * over the target, fsync the directory.
 *
 * @param path the target
 * @param bytes the new content
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = await writeTemp(path, bytes);
  try {
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDir(dirname(path));
}

/**
 * Create a file with the given content only if it does not exist: write a
 * 0600 temp file, fsync, hard-link it to the target (which fails when the
 * target exists, so an existing file is never overwritten), fsync the
 * directory.
 *
 * @param path the target
 * @param bytes the content
 * @returns true when created, false when the file already existed
 */
export async function writeFileExclusive(path: string, bytes: Uint8Array): Promise<boolean> {
  const temp = await writeTemp(path, bytes);
  try {
    await Deno.link(temp, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  await syncDir(dirname(path));
  return true;
}

async function writeTemp(path: string, bytes: Uint8Array): Promise<string> {
  const temp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
  try {
    let offset = 0;
    while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  file.close();
  return temp;
}

async function syncDir(path: string): Promise<void> {
  if (!POSIX) return;
  let dir: Deno.FsFile | undefined;
  try {
    dir = await Deno.open(path, { read: true });
    await dir.sync();
  } catch {
    // Some filesystems cannot fsync a directory; the rename itself is atomic.
  } finally {
    dir?.close();
  }
}
