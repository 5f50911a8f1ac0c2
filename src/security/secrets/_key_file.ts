/**
 * Small private key files under `$LOOM_HOME/keys/` (the master key, the audit
 * salt): exactly {@linkcode KEY_FILE_BYTES} random bytes, mode 0600 in a 0700
 * directory, created on first use by writing a temp file and hard-linking it
 * into place, so a concurrent first use never overwrites a file another
 * process just created. A file (or its directory) that group or others can
 * access, that another uid owns, or that is a symlink is refused.
 *
 * @module
 */

import { dirname } from "node:path";
import { LoomError, NotFoundError } from "../../errors.ts";
import { ensurePrivateDir, readPrivateFile, writeFileExclusive } from "../../store/mod.ts";

/** Bytes of every key file. */
export const KEY_FILE_BYTES = 32;

/** Options of {@linkcode loadKeyFile}. */
export interface LoadKeyFileOptions {
  /** What the file is, for messages (`"master key file"`). */
  what: string;
  /** Create the file with fresh random bytes when it does not exist. */
  create: boolean;
  /** Check (and create) the parent directory as a private directory (default true). */
  privateDir?: boolean;
  /** The message of the `NotFoundError` when the file is missing and `create` is false. */
  missing: string;
}

/**
 * Read a key file, creating it first when asked. The caller must zero the
 * returned bytes once imported.
 *
 * @param path the file
 * @param options what it is, whether to create it, the not-found message
 * @returns the key bytes and whether this call created the file
 * @throws {PolicyError} when the file or its directory is not private
 * @throws {LoomError} `INTEGRITY_FAILED` when the file is not exactly 32 bytes
 * @throws {NotFoundError} when the file does not exist and `create` is false
 */
export async function loadKeyFile(
  path: string,
  options: LoadKeyFileOptions,
): Promise<{ raw: Uint8Array<ArrayBuffer>; created: boolean }> {
  if (options.privateDir ?? true) await ensurePrivateDir(dirname(path), "key directory");
  let raw = await readKeyFile(path, options.what);
  let created = false;
  if (raw === null) {
    if (!options.create) throw new NotFoundError(options.missing);
    const fresh = crypto.getRandomValues(new Uint8Array(KEY_FILE_BYTES));
    created = await writeFileExclusive(path, fresh);
    fresh.fill(0);
    // Read back what is on disk: another process may have created it first.
    raw = await readKeyFile(path, options.what);
    if (raw === null) throw new NotFoundError(`Cannot load ${options.what}: "${path}" vanished`);
  }
  return { raw, created };
}

async function readKeyFile(path: string, what: string): Promise<Uint8Array<ArrayBuffer> | null> {
  let raw: Uint8Array | null;
  try {
    raw = await readPrivateFile(path, what, { maxBytes: 4096 });
  } catch (error) {
    if (error instanceof RangeError) raw = new Uint8Array(4097);
    else throw error;
  }
  if (raw === null) return null;
  const copy = raw.length === KEY_FILE_BYTES ? new Uint8Array(raw) : null;
  raw.fill(0);
  if (copy === null) {
    throw new LoomError(
      "INTEGRITY_FAILED",
      `Cannot use ${what} "${path}": expected ${KEY_FILE_BYTES} bytes`,
    );
  }
  return copy;
}
