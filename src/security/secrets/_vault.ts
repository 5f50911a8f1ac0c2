/**
 * The vault file `$LOOM_HOME/secrets.enc`:
 *
 * ```json
 * { "v": 1, "vault_id": "<uuid>",
 *   "entries": { "<name>": { "iv": "<base64, 12 bytes>", "ct": "<base64, ciphertext + tag>",
 *                            "version": 1, "updated_at": "<ISO-8601>" } } }
 * ```
 *
 * Only values are encrypted; names, versions and times are plain so `list`
 * needs no key. Each value's additional data binds the vault id, name and
 * version (see `_crypto.ts`). Parsing is strict: any unexpected shape is an
 * integrity failure naming the file, never quoting its content.
 *
 * @module
 */

import { join } from "node:path";
import { IntegrityError } from "../../errors.ts";
import { SECRET_NAME } from "../../_util/template.ts";
import { type LoomHome, readPrivateFile, writeFileAtomic } from "../../store/mod.ts";
import { IV_BYTES, TAG_BYTES } from "./_crypto.ts";

/** Largest vault file LOOM reads. */
export const MAX_VAULT_BYTES: number = 16 * 1024 * 1024;

/** One stored value. */
export interface VaultEntry {
  iv: Uint8Array<ArrayBuffer>;
  ct: Uint8Array<ArrayBuffer>;
  version: number;
  updatedAt: string;
}

/** The parsed vault. */
export interface VaultData {
  vaultId: string;
  entries: Map<string, VaultEntry>;
}

const VAULT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WHAT = "secrets file";

/** A new, empty vault with a random id. */
export function emptyVault(): VaultData {
  return { vaultId: crypto.randomUUID(), entries: new Map() };
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
 * Parse vault bytes.
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
  if (doc.v !== 1) return bad("unsupported format version");
  if (typeof doc.vault_id !== "string" || !VAULT_ID.test(doc.vault_id)) {
    return bad("invalid vault_id");
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
    entries.set(name, { iv, ct, version: raw.version as number, updatedAt: raw.updated_at });
  }
  return { vaultId: doc.vault_id, entries };
}

/** Serialise a vault (names sorted, so rewrites are stable). */
export function serializeVault(data: VaultData): Uint8Array {
  const entries: Record<string, unknown> = {};
  for (const name of [...data.entries.keys()].sort()) {
    const e = data.entries.get(name)!;
    entries[name] = {
      iv: e.iv.toBase64(),
      ct: e.ct.toBase64(),
      version: e.version,
      updated_at: e.updatedAt,
    };
  }
  const doc = { v: 1, vault_id: data.vaultId, entries };
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
