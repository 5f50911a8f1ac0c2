/**
 * Config signing keys under `$LOOM_HOME/keys/`: this home's Ed25519 signing
 * key (`config-signing.key`), its optional HMAC-SHA256 key
 * (`config-signing.hmac`), and the public keys it trusts
 * (`trusted/<KEYID>.pub`). All are JSON files of mode 0600 in 0700
 * directories, read through `src/store/private_file.ts`: a key file that
 * group or others can access, that another user owns or that is a symlink is
 * refused (`PolicyError`, exit 77), so nobody else can swap in a key LOOM
 * would then trust.
 *
 * A key id is the first 16 hex digits of SHA-256 over the public key (Ed25519)
 * or over a fixed label and the key (HMAC): it names a key without revealing
 * it. Web Crypto (`crypto.subtle`) does all the cryptography.
 *
 * @module
 */

import { join } from "node:path";
import { IntegrityError, LoomError, NotFoundError } from "../../errors.ts";
import {
  ensurePrivateDir,
  type LoomHome,
  readPrivateFile,
  statPrivateFile,
  writeFileAtomic,
  writeFileExclusive,
} from "../../store/mod.ts";

/** The signature algorithms LOOM writes and accepts. */
export type SigningAlgorithm = "ed25519" | "hmac-sha256";

/** A key id: 16 lowercase hex digits. */
export const KEY_ID = /^[0-9a-f]{16}$/;

/** The largest key file read. */
const MAX_KEY_BYTES = 4096;

/** A key that can sign (and, for HMAC, verify). */
export interface SigningKey {
  algorithm: SigningAlgorithm;
  keyId: string;
  /** Ed25519 private key, or the HMAC key. */
  key: CryptoKey;
}

/** A public key this home trusts. */
export interface TrustedKey {
  algorithm: "ed25519";
  keyId: string;
  key: CryptoKey;
}

/** Where a home keeps its config signing keys. */
export interface SigningKeyPaths {
  /** `keys/config-signing.key`: the Ed25519 private key. */
  ed25519: string;
  /** `keys/config-signing.hmac`: the HMAC-SHA256 key. */
  hmac: string;
  /** `keys/trusted/`: public keys whose signatures `loom run` accepts. */
  trusted: string;
}

/** The key paths of a home. */
export function signingKeyPaths(home: LoomHome): SigningKeyPaths {
  return {
    ed25519: join(home.keys, "config-signing.key"),
    hmac: join(home.keys, "config-signing.hmac"),
    trusted: join(home.keys, "trusted"),
  };
}

/** What {@linkcode generateSigningKey} made. */
export interface GeneratedKey {
  algorithm: SigningAlgorithm;
  keyId: string;
  /** The private key file written. */
  keyFile: string;
  /** Ed25519: the trusted public key file written. */
  publicFile?: string;
}

/**
 * Make this home's signing key. Ed25519: the private key goes to
 * `keys/config-signing.key`, its public half to `keys/trusted/<KEYID>.pub`
 * (so this home trusts its own signatures). HMAC: a random 32-byte key goes
 * to `keys/config-signing.hmac`; it both signs and verifies.
 *
 * @param home the LOOM home
 * @param algorithm which key
 * @param options `force`: replace an existing key (its signatures stop verifying)
 * @returns the key id and files
 * @throws {LoomError} `USAGE` when the key exists and `force` is not set
 */
export async function generateSigningKey(
  home: LoomHome,
  algorithm: SigningAlgorithm,
  options: { force?: boolean } = {},
): Promise<GeneratedKey> {
  const paths = signingKeyPaths(home);
  await ensurePrivateDir(home.keys, "key directory");
  const keyFile = algorithm === "ed25519" ? paths.ed25519 : paths.hmac;
  const write = async (bytes: Uint8Array) => {
    if (options.force) return await writeFileAtomic(keyFile, bytes);
    if (!(await writeFileExclusive(keyFile, bytes))) {
      throw new LoomError(
        "USAGE",
        `Signing key "${keyFile}" exists; pass --force to replace it (configs it signed ` +
          `will no longer verify)`,
      );
    }
  };
  if (algorithm === "hmac-sha256") {
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const keyId = await hmacKeyId(raw);
    await write(json({ algorithm, key_id: keyId, key: toBase64Url(raw) }));
    raw.fill(0);
    return { algorithm, keyId, keyFile };
  }
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const keyId = await ed25519KeyId(publicRaw);
  const publicKey = toBase64Url(publicRaw);
  await write(
    json({ algorithm, key_id: keyId, private_key: toBase64Url(pkcs8), public_key: publicKey }),
  );
  pkcs8.fill(0);
  const { file: publicFile } = await trustPublicKey(home, {
    algorithm,
    key_id: keyId,
    public_key: publicKey,
  });
  return { algorithm, keyId, keyFile, publicFile };
}

/**
 * Add an Ed25519 public key to `keys/trusted/` (as `<KEYID>.pub`, 0600).
 * The key id is recomputed from the key, never taken on trust.
 *
 * @param home the LOOM home
 * @param document the public key file's content (`algorithm`, `key_id`, `public_key`)
 * @returns the key id and the file written
 * @throws {IntegrityError} when the document is not an Ed25519 public key or
 *   its key id does not match the key
 */
export async function trustPublicKey(
  home: LoomHome,
  document: unknown,
): Promise<{ keyId: string; file: string }> {
  const { keyId, raw } = await parsePublicKey(document, "public key");
  const paths = signingKeyPaths(home);
  await ensurePrivateDir(paths.trusted, "trusted key directory");
  const file = join(paths.trusted, `${keyId}.pub`);
  await writeFileAtomic(
    file,
    json({ algorithm: "ed25519", key_id: keyId, public_key: toBase64Url(raw) }),
  );
  return { keyId, file };
}

/**
 * This home's signing key of one algorithm.
 *
 * @throws {NotFoundError} when there is none (run `loom sign keygen`)
 * @throws {PolicyError} when the key file is not private
 * @throws {IntegrityError} when it is malformed
 */
export async function loadSigningKey(
  home: LoomHome,
  algorithm: SigningAlgorithm,
): Promise<SigningKey> {
  const found = await readSigningKey(home, algorithm);
  if (found === null) {
    const flag = algorithm === "hmac-sha256" ? " --hmac" : "";
    throw new NotFoundError(
      `No ${algorithm} config signing key in this LOOM home; create one with ` +
        `"loom sign keygen${flag}"`,
    );
  }
  return found;
}

/** This home's HMAC key, or null when it has none (verification of HMAC signatures). */
export async function loadHmacKey(home: LoomHome): Promise<SigningKey | null> {
  return await readSigningKey(home, "hmac-sha256");
}

async function readSigningKey(
  home: LoomHome,
  algorithm: SigningAlgorithm,
): Promise<SigningKey | null> {
  const paths = signingKeyPaths(home);
  const file = algorithm === "ed25519" ? paths.ed25519 : paths.hmac;
  const bytes = await readPrivateFile(file, "config signing key", { maxBytes: MAX_KEY_BYTES });
  if (bytes === null) return null;
  const doc = parseJson(bytes, file);
  const bad = (why: string) => new IntegrityError(`Config signing key "${file}" ${why}`);
  if (doc.algorithm !== algorithm) throw bad(`is not an ${algorithm} key`);
  if (algorithm === "hmac-sha256") {
    const raw = fromBase64Url(doc.key, 32);
    if (raw === null) throw bad("holds no 32-byte key");
    const keyId = await hmacKeyId(raw);
    if (doc.key_id !== keyId) throw bad("names the wrong key id");
    const key = await crypto.subtle.importKey(
      "raw",
      raw,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    raw.fill(0);
    return { algorithm, keyId, key };
  }
  const pkcs8 = fromBase64Url(doc.private_key);
  const publicRaw = fromBase64Url(doc.public_key, 32);
  if (pkcs8 === null || publicRaw === null) throw bad("holds no Ed25519 key pair");
  const keyId = await ed25519KeyId(publicRaw);
  if (doc.key_id !== keyId) throw bad("names the wrong key id");
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  } catch {
    throw bad("holds no Ed25519 private key");
  } finally {
    pkcs8.fill(0);
  }
  return { algorithm, keyId, key };
}

/**
 * The trusted public key with this id, or null when this home does not trust it.
 *
 * @throws {PolicyError} when the file is not private
 * @throws {IntegrityError} when it is malformed or holds another key
 */
export async function loadTrustedKey(home: LoomHome, keyId: string): Promise<TrustedKey | null> {
  if (!KEY_ID.test(keyId)) return null;
  const file = join(signingKeyPaths(home).trusted, `${keyId}.pub`);
  const bytes = await readPrivateFile(file, "trusted public key", { maxBytes: MAX_KEY_BYTES });
  if (bytes === null) return null;
  const parsed = await parsePublicKey(parseJson(bytes, file), `trusted public key "${file}"`);
  if (parsed.keyId !== keyId) {
    throw new IntegrityError(
      `Trusted public key "${file}" holds key ${parsed.keyId}, not ${keyId}`,
    );
  }
  const key = await crypto.subtle.importKey("raw", parsed.raw, { name: "Ed25519" }, false, [
    "verify",
  ]);
  return { algorithm: "ed25519", keyId, key };
}

/** The ids of the trusted public keys (file names), sorted. */
export async function listTrustedKeys(home: LoomHome): Promise<string[]> {
  const dir = signingKeyPaths(home).trusted;
  const ids: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const id = entry.name.endsWith(".pub") ? entry.name.slice(0, -4) : "";
      if (entry.isFile && KEY_ID.test(id)) ids.push(id);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return ids.sort();
}

/** Whether this home has a key file of this algorithm (checked private when present). */
export async function hasSigningKey(home: LoomHome, algorithm: SigningAlgorithm): Promise<boolean> {
  const paths = signingKeyPaths(home);
  const file = algorithm === "ed25519" ? paths.ed25519 : paths.hmac;
  return (await statPrivateFile(file, "config signing key")) !== null;
}

/** The public key document of this home's Ed25519 key, to copy to other hosts. */
export async function exportPublicKey(home: LoomHome): Promise<string> {
  const file = signingKeyPaths(home).ed25519;
  const bytes = await readPrivateFile(file, "config signing key", { maxBytes: MAX_KEY_BYTES });
  if (bytes === null) {
    throw new NotFoundError(`No ed25519 config signing key; create one with "loom sign keygen"`);
  }
  const doc = parseJson(bytes, file);
  const { keyId, raw } = await parsePublicKey(
    { algorithm: doc.algorithm, key_id: doc.key_id, public_key: doc.public_key },
    `config signing key "${file}"`,
  );
  return new TextDecoder().decode(
    json({ algorithm: "ed25519", key_id: keyId, public_key: toBase64Url(raw) }),
  );
}

async function parsePublicKey(
  document: unknown,
  what: string,
): Promise<{ keyId: string; raw: Uint8Array<ArrayBuffer> }> {
  const doc = (typeof document === "object" && document !== null ? document : {}) as Record<
    string,
    unknown
  >;
  if (doc.algorithm !== "ed25519") throw new IntegrityError(`The ${what} is not an ed25519 key`);
  const raw = fromBase64Url(doc.public_key, 32);
  if (raw === null) throw new IntegrityError(`The ${what} holds no 32-byte public key`);
  const keyId = await ed25519KeyId(raw);
  if (doc.key_id !== keyId) {
    throw new IntegrityError(
      `The ${what} names key id "${String(doc.key_id).slice(0, 32)}", ` +
        `but its key's id is ${keyId}`,
    );
  }
  return { keyId, raw };
}

/** The id of an Ed25519 public key: SHA-256 of the raw key, first 16 hex digits. */
export async function ed25519KeyId(publicRaw: Uint8Array<ArrayBuffer>): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", publicRaw))).slice(0, 16);
}

async function hmacKeyId(raw: Uint8Array<ArrayBuffer>): Promise<string> {
  const label = new TextEncoder().encode("loom config signing hmac key id\n");
  const data = new Uint8Array(label.length + raw.length);
  data.set(label);
  data.set(raw, label.length);
  const id = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data))).slice(0, 16);
  data.fill(0);
  return id;
}

function parseJson(bytes: Uint8Array, file: string): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw new IntegrityError(`Key file "${file}" is not a JSON object`);
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
}

/** Lowercase hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Bytes of a base64url string (of `length` bytes when given), or null when it is not one. */
export function fromBase64Url(
  value: unknown,
  length?: number,
): Uint8Array<ArrayBuffer> | null {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]*$/.test(value) || value.length > 8192) {
    return null;
  }
  try {
    const text = atob(value.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return length === undefined || bytes.length === length ? bytes : null;
  } catch {
    return null;
  }
}
