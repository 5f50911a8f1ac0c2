/**
 * The master key that encrypts the vault. It comes from, in order:
 *
 * 1. `LOOM_MASTER_KEY`: exactly 32 bytes written as 64 hex digits or as base64
 *    / base64url (padding optional). Anything else is refused with a message
 *    naming the variable, never its value. Use it where the home directory is
 *    not private enough for a key file (a supervisor injects it).
 * 2. `$LOOM_HOME/keys/master.key`: 32 random bytes, created on first use (mode
 *    0600 in a 0700 directory) by writing a temp file and hard-linking it into
 *    place, so a concurrent first use never overwrites a key another process
 *    just created. A key file (or its directory) that group or others can
 *    access, that another uid owns, or that is a symlink is refused.
 *
 * The key is imported as a non-extractable AES-GCM `CryptoKey` and the raw
 * bytes are zeroed. It wraps the vault's data key (envelope encryption, see
 * `_crypto.ts`); it decrypts values directly only to migrate a vault of
 * format 1, and never encrypts a value.
 *
 * @module
 */

import { join } from "node:path";
import { LoomError } from "../../errors.ts";
import { ensureHome, type LoomHome } from "../../store/mod.ts";
import { importMasterKey, KEY_BYTES } from "./_crypto.ts";
import { loadKeyFile } from "./_key_file.ts";

/** The environment variable holding the master key. */
export const MASTER_KEY_ENV = "LOOM_MASTER_KEY";

/** Where the master key comes from. */
export type MasterKeySource = "env" | "file";

/** A loaded master key. */
export interface MasterKey {
  /** Non-extractable AES-256-GCM key (usages `wrapKey`, `unwrapKey`, `decrypt`). */
  key: CryptoKey;
  /** Where it came from. */
  source: MasterKeySource;
  /** True when the key file was created by this call. */
  created: boolean;
}

/** Options of {@linkcode loadMasterKey}. */
export interface LoadMasterKeyOptions {
  /**
   * Create the key file when it does not exist (default false). Off when the
   * vault already holds secrets: a new key could not decrypt them.
   */
  create?: boolean;
}

/** The path of the key file inside a home. */
export function masterKeyPath(home: LoomHome): string {
  return join(home.keys, "master.key");
}

/**
 * Decode a `LOOM_MASTER_KEY` value.
 *
 * @param text the variable's value
 * @returns the 32 key bytes
 * @throws {LoomError} `CONFIG_INVALID` when it is not 32 bytes of hex or base64
 *   (the message never includes the value)
 */
export function parseMasterKey(text: string): Uint8Array<ArrayBuffer> {
  const trimmed = text.trim();
  let bytes: Uint8Array<ArrayBuffer> | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) {
    bytes = Uint8Array.fromHex(trimmed);
  } else if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed) || /^[A-Za-z0-9_-]{43}=?$/.test(trimmed)) {
    const url = /[-_]/.test(trimmed);
    try {
      bytes = Uint8Array.fromBase64(trimmed, { alphabet: url ? "base64url" : "base64" });
    } catch {
      bytes = null;
    }
  }
  if (bytes === null || bytes.length !== KEY_BYTES) {
    throw new LoomError(
      "CONFIG_INVALID",
      `Invalid ${MASTER_KEY_ENV}: expected ${KEY_BYTES} bytes written as 64 hex digits ` +
        `or 44 base64 characters (e.g. "openssl rand -base64 32")`,
    );
  }
  return bytes;
}

/**
 * Load the master key from the environment or the key file.
 *
 * @param home the LOOM home
 * @param env the environment (`LOOM_MASTER_KEY`)
 * @param options whether to create a missing key file
 * @returns the key and where it came from
 * @throws {LoomError} `CONFIG_INVALID` for a malformed `LOOM_MASTER_KEY`
 * @throws {PolicyError} when the key file or its directory is not private
 * @throws {IntegrityError} when the key file is not exactly 32 bytes
 * @throws {NotFoundError} when there is no key and `create` is false
 */
export async function loadMasterKey(
  home: LoomHome,
  env: { get(key: string): string | undefined },
  options: LoadMasterKeyOptions = {},
): Promise<MasterKey> {
  const fromEnv = env.get(MASTER_KEY_ENV);
  if (fromEnv !== undefined && fromEnv !== "") {
    const raw = parseMasterKey(fromEnv);
    try {
      return { key: await importMasterKey(raw), source: "env", created: false };
    } finally {
      raw.fill(0);
    }
  }
  const path = masterKeyPath(home);
  await ensureHome(home);
  const { raw, created } = await loadKeyFile(path, {
    what: "master key file",
    create: options.create ?? false,
    missing: `Cannot load master key: "${path}" does not exist and ${MASTER_KEY_ENV} is not set`,
  });
  try {
    return { key: await importMasterKey(raw), source: "file", created };
  } finally {
    raw.fill(0);
  }
}
