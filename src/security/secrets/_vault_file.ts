/**
 * The vault file `$LOOM_HOME/secrets.enc`, format 2 (envelope encryption):
 *
 * ```json
 * { "v": 2, "vault_id": "<uuid>",
 *   "dek": { "kid": "<32 hex>", "alg": "A256GCM", "wrap": "A256GCM",
 *            "iv": "<base64, 12 bytes>", "wrapped": "<base64, 32-byte key + tag>",
 *            "encryptions": 3, "created_at": "<ISO-8601>" },
 *   "entries": { "<name>": { "kid": "<32 hex>", "iv": "<base64, 12 bytes>",
 *                            "ct": "<base64, ciphertext + tag>",
 *                            "version": 1, "updated_at": "<ISO-8601>" } } }
 * ```
 *
 * `dek` is the data key wrapped by the master key; `encryptions` counts the
 * values sealed under it, so `vault.ts` can rotate it well before NIST SP
 * 800-38D's 2^32 limit. Format 1 (no `dek`, no `kid`: values under the master
 * key) is still read, and migrated by the next `set` or `rotate`.
 *
 * Only values are encrypted; names, versions and times are plain so `list`
 * needs no key. Each value's additional data binds the vault id, name,
 * version and key id (see `_crypto.ts`). Parsing is strict: any unexpected shape is an
 * integrity failure naming the file, never quoting its content.
 *
 * @module
 */

import { join } from "node:path";
import { IntegrityError } from "../../errors.ts";
import { SECRET_NAME } from "../../_util/template.ts";
import { type LoomHome, readPrivateFile, writeFileAtomic } from "../../store/mod.ts";
import { IV_BYTES, TAG_BYTES, WRAPPED_DEK_BYTES } from "./_crypto.ts";

/** Largest vault file LOOM reads. */
export const MAX_VAULT_BYTES: number = 16 * 1024 * 1024;

/** The format this version writes. */
export const VAULT_FORMAT = 2;

/** One stored value. */
export interface VaultEntry {
  iv: Uint8Array<ArrayBuffer>;
  ct: Uint8Array<ArrayBuffer>;
  version: number;
  updatedAt: string;
  /** The data key that encrypts it; null in a format-1 vault (the master key does). */
  kid: string | null;
}

/** The vault's data key, wrapped by the master key (format 2). */
export interface WrappedDataKey {
  /** 32 hex digits. */
  kid: string;
  /** IV of the wrapping. */
  iv: Uint8Array<ArrayBuffer>;
  /** The wrapped key with its tag. */
  wrapped: Uint8Array<ArrayBuffer>;
  /** Encryptions made under this key so far (values sealed, re-encryptions included). */
  encryptions: number;
  createdAt: string;
}

/** The parsed vault. */
export interface VaultData {
  /** 1: values under the master key (read, migrated on `set`); 2: envelope encryption. */
  format: 1 | 2;
  vaultId: string;
  /** The current data key; null in a format-1 vault and in a new, empty one. */
  dek: WrappedDataKey | null;
  entries: Map<string, VaultEntry>;
}

const VAULT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KID = /^[0-9a-f]{32}$/;
const WHAT = "secrets file";

/** A new, empty vault with a random id (a data key is made on the first `set`). */
export function emptyVault(): VaultData {
  return { format: VAULT_FORMAT, vaultId: crypto.randomUUID(), dek: null, entries: new Map() };
}

/**
 * Read and parse the vault, checking the file is private.
 *
 * @returns the vault, or null when the file does not exist
 * @throws {PolicyError} when the file is not private
 * @throws {IntegrityError} when it is malformed
 */
export async function readVault(path: string): Promise<VaultData | null> {
  let bytes: Uint8Array | null;
  try {
    bytes = await readPrivateFile(path, WHAT, { maxBytes: MAX_VAULT_BYTES });
  } catch (error) {
    if (error instanceof RangeError) {
      throw new IntegrityError(
        `Cannot read ${WHAT} "${path}": larger than ${MAX_VAULT_BYTES} bytes`,
      );
    }
    throw error;
  }
  return bytes === null ? null : parseVault(bytes, path);
}

/**
 * Parse vault bytes (format 1 or 2).
 *
 * @throws {IntegrityError} on any deviation from the format
 */
export function parseVault(bytes: Uint8Array, path: string): VaultData {
  const bad = (detail: string): never => {
    throw new IntegrityError(`Cannot read ${WHAT} "${path}": ${detail}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return bad("not valid JSON");
  }
  if (!isObject(doc)) return bad("not a JSON object");
  if (doc.v !== 1 && doc.v !== 2) return bad("unsupported format version");
  const format = doc.v;
  if (typeof doc.vault_id !== "string" || !VAULT_ID.test(doc.vault_id)) {
    return bad("invalid vault_id");
  }
  let dek: WrappedDataKey | null = null;
  if (format === 2) {
    const raw = doc.dek;
    if (!isObject(raw)) return bad("dek is not an object");
    if (typeof raw.kid !== "string" || !KID.test(raw.kid)) return bad("dek has an invalid kid");
    if (raw.alg !== "A256GCM" || raw.wrap !== "A256GCM") return bad("dek has an unknown algorithm");
    const iv = decode(raw.iv);
    const wrapped = decode(raw.wrapped);
    if (iv === null || iv.length !== IV_BYTES) return bad("dek has an invalid iv");
    if (wrapped === null || wrapped.length !== WRAPPED_DEK_BYTES) {
      return bad("dek has an invalid wrapped key");
    }
    if (!Number.isSafeInteger(raw.encryptions) || (raw.encryptions as number) < 0) {
      return bad("dek has an invalid encryption count");
    }
    if (typeof raw.created_at !== "string" || Number.isNaN(Date.parse(raw.created_at))) {
      return bad("dek has an invalid created_at");
    }
    dek = {
      kid: raw.kid,
      iv,
      wrapped,
      encryptions: raw.encryptions as number,
      createdAt: raw.created_at,
    };
  } else if (doc.dek !== undefined) {
    return bad("a format 1 vault has a dek");
  }
  if (!isObject(doc.entries)) return bad("entries is not an object");
  const entries = new Map<string, VaultEntry>();
  for (const [name, raw] of Object.entries(doc.entries)) {
    if (!SECRET_NAME.test(name)) return bad("an entry has an invalid name");
    if (!isObject(raw)) return bad(`entry "${name}" is not an object`);
    const iv = decode(raw.iv);
    const ct = decode(raw.ct);
    if (iv === null || iv.length !== IV_BYTES) return bad(`entry "${name}" has an invalid iv`);
    if (ct === null || ct.length < TAG_BYTES) return bad(`entry "${name}" has an invalid ct`);
    if (!Number.isSafeInteger(raw.version) || (raw.version as number) < 1) {
      return bad(`entry "${name}" has an invalid version`);
    }
    if (typeof raw.updated_at !== "string" || Number.isNaN(Date.parse(raw.updated_at))) {
      return bad(`entry "${name}" has an invalid updated_at`);
    }
    let kid: string | null = null;
    if (dek !== null) {
      // Rotation re-encrypts every value, so all are under the current key.
      if (raw.kid !== dek.kid) return bad(`entry "${name}" is not under the current data key`);
      kid = dek.kid;
    } else if (raw.kid !== undefined) {
      return bad(`entry "${name}" names a data key in a format 1 vault`);
    }
    entries.set(name, { iv, ct, version: raw.version as number, updatedAt: raw.updated_at, kid });
  }
  return { format, vaultId: doc.vault_id, dek, entries };
}

/**
 * Serialise a vault (names sorted, so rewrites are stable), in its own format:
 * a format-1 vault stays format 1 until a `set` or `rotate` migrates it.
 *
 * @throws {TypeError} for a format-2 vault without a data key, or an entry
 *   under another key (a bug: values must be re-encrypted on rotation)
 */
export function serializeVault(data: VaultData): Uint8Array {
  const entries: Record<string, unknown> = {};
  for (const name of [...data.entries.keys()].sort()) {
    const e = data.entries.get(name)!;
    if (data.format === 2 && e.kid !== data.dek?.kid) {
      throw new TypeError(`Cannot write vault: entry "${name}" is not under the current data key`);
    }
    entries[name] = {
      ...(data.format === 2 ? { kid: e.kid } : {}),
      iv: e.iv.toBase64(),
      ct: e.ct.toBase64(),
      version: e.version,
      updated_at: e.updatedAt,
    };
  }
  let doc: Record<string, unknown>;
  if (data.format === 1) {
    doc = { v: 1, vault_id: data.vaultId, entries };
  } else {
    const dek = data.dek;
    if (dek === null) throw new TypeError("Cannot write vault: format 2 needs a data key");
    doc = {
      v: 2,
      vault_id: data.vaultId,
      dek: {
        kid: dek.kid,
        alg: "A256GCM",
        wrap: "A256GCM",
        iv: dek.iv.toBase64(),
        wrapped: dek.wrapped.toBase64(),
        encryptions: dek.encryptions,
        created_at: dek.createdAt,
      },
      entries,
    };
  }
  return new TextEncoder().encode(JSON.stringify(doc, null, 2) + "\n");
}

/** Write the vault atomically (temp 0600 + fsync + rename + directory fsync). */
export function writeVault(path: string, data: VaultData): Promise<void> {
  return writeFileAtomic(path, serializeVault(data));
}

/**
 * Run `fn` holding an exclusive lock on `$LOOM_HOME/secrets.lock`, so
 * read-modify-write cycles of the vault by concurrent CLI invocations do not
 * lose each other's changes. Readers do not lock: writes are atomic renames.
 */
export async function withVaultLock<T>(home: LoomHome, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(join(home.root, "secrets.lock"), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // releases the lock
  }
}

function decode(value: unknown): Uint8Array<ArrayBuffer> | null {
  if (typeof value !== "string") return null;
  try {
    return Uint8Array.fromBase64(value, { lastChunkHandling: "strict" });
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
