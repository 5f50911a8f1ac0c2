/**
 * The keys of audit checkpoints (`checkpoint.ts`): the Ed25519 signing key
 * the writer holds (`$LOOM_HOME/keys/audit-signing.key`, 0600, never readable
 * by agent hosts), its public half beside it for verifiers, signing a body
 * into a note, and checking a note's signature lines against trusted keys.
 *
 * A note's signature line names the key by its name and a 4-byte hint, the
 * first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ raw public key), so a
 * verifier picks the right key among several and skips lines of keys it does
 * not know (a witness's cosignature, a rotated key).
 *
 * @module
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { dirname } from "node:path";
import {
  ensurePrivateDir,
  readPrivateFile,
  writeFileAtomic,
  writeFileExclusive,
} from "../../store/mod.ts";
import {
  type Checkpoint,
  CHECKPOINT_KEY_NAME,
  type CheckpointBody,
  formatBody,
  parseNote,
  SIGNATURE_PREFIX,
} from "./checkpoint.ts";

/** The signature type byte of Ed25519 in note key hints. */
const ED25519_TYPE = 0x01;
const B64URL = /^[A-Za-z0-9_-]+$/;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const MAX_KEY_FILE_BYTES = 4096;

/** A public key a verifier trusts. */
export interface TrustedKey {
  /** First 16 hex digits of SHA-256 of the raw public key. */
  readonly keyId: string;
  /** The note key hint (8 hex digits) under {@linkcode CHECKPOINT_KEY_NAME}. */
  readonly hint: string;
  readonly key: KeyObject;
}

/** The private half, able to sign checkpoints. Never leaves the writer. */
export interface CheckpointSigner {
  readonly keyId: string;
  /** The raw public key, base64url. */
  readonly publicKey: string;
  /** Sign a body into a checkpoint. */
  sign(body: CheckpointBody): Checkpoint;
}

/** The key hint of a raw Ed25519 public key under `name`, as 8 hex digits. */
export function keyHintOf(name: string, publicKeyRaw: Uint8Array): string {
  return createHash("sha256")
    .update(ENCODER.encode(name + "\n"))
    .update(Uint8Array.of(ED25519_TYPE))
    .update(publicKeyRaw)
    .digest("hex")
    .slice(0, 8);
}

/** The key id of a raw public key (base64url): 16 hex digits of its SHA-256. */
export function keyIdOf(publicKey: string): string {
  return createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest("hex").slice(
    0,
    16,
  );
}

/**
 * Check a checkpoint's signature against the trusted keys. Signature lines of
 * other keys are ignored.
 *
 * @returns null when a trusted key's signature verifies; otherwise why not
 */
export function checkCheckpointSignature(
  c: Checkpoint,
  trusted: readonly TrustedKey[],
): string | null {
  const bytes = ENCODER.encode(c.body);
  let known = false;
  for (const s of c.signatures) {
    if (s.name !== CHECKPOINT_KEY_NAME) continue;
    const key = trusted.find((k) => k.hint === s.hint);
    if (key === undefined) continue;
    known = true;
    let ok = false;
    try {
      ok = s.signature.length === 64 && verify(null, bytes, key.key, s.signature);
    } catch {
      ok = false;
    }
    if (ok) return null;
  }
  return known ? "bad signature" : "signed by no trusted key (unknown key)";
}

/**
 * Load the checkpoint signing key, creating it on first use: an Ed25519 key
 * in PKCS#8 PEM at `keyFile` (mode 0600, its directory 0700, refused when
 * group- or other-accessible), and its public half in SPKI PEM beside it
 * (`<keyFile minus .key>.pub`), so `loom audit verify` needs no private key.
 *
 * @param keyFile e.g. `$LOOM_HOME/keys/audit-signing.key`
 * @throws {PolicyError} when the key file or its directory is not private
 */
export async function openCheckpointSigner(keyFile: string): Promise<CheckpointSigner> {
  await ensurePrivateDir(dirname(keyFile), "key directory");
  let pem = await readPrivateFile(keyFile, "audit signing key", { maxBytes: MAX_KEY_FILE_BYTES });
  if (pem === null) {
    const { privateKey } = generateKeyPairSync("ed25519");
    const text = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    // Exclusive: two processes starting at once keep one key.
    await writeFileExclusive(keyFile, ENCODER.encode(text));
    pem = await readPrivateFile(keyFile, "audit signing key", { maxBytes: MAX_KEY_FILE_BYTES });
    if (pem === null) throw new Deno.errors.NotFound(`Cannot read audit signing key "${keyFile}"`);
  }
  const privateKey = createPrivateKey(DECODER.decode(pem));
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new TypeError(`Cannot use audit signing key "${keyFile}": it is not an Ed25519 key`);
  }
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = rawPublicKey(publicKeyObject);
  const hint = Buffer.from(
    keyHintOf(CHECKPOINT_KEY_NAME, Buffer.from(publicKey, "base64url")),
    "hex",
  );
  const pubFile = publicKeyFileOf(keyFile);
  const spki = publicKeyObject.export({ format: "pem", type: "spki" }) as string;
  let current: string | null = null;
  try {
    current = await Deno.readTextFile(pubFile);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (current !== spki) await writeFileAtomic(pubFile, ENCODER.encode(spki));
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    sign(b) {
      const body = formatBody(b);
      const sig = sign(null, ENCODER.encode(body), privateKey);
      const line = `${SIGNATURE_PREFIX}${CHECKPOINT_KEY_NAME} ${
        Buffer.concat([hint, sig]).toString("base64")
      }\n`;
      const note = body + "\n" + line;
      const parsed = parseNote(note);
      if (!parsed.ok) throw new TypeError(`Cannot sign audit checkpoint: ${parsed.reason}`);
      return parsed.value;
    },
  };
}

/** The raw public key (base64url) of an Ed25519 key object. */
function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" }) as { x?: string };
  if (typeof jwk.x !== "string" || !B64URL.test(jwk.x)) throw new TypeError("Not an Ed25519 key");
  return jwk.x;
}

/** The public key file that goes with a private key file: `x.key` → `x.pub`. */
export function publicKeyFileOf(keyFile: string): string {
  return (keyFile.endsWith(".key") ? keyFile.slice(0, -4) : keyFile) + ".pub";
}

/**
 * Read a trusted public key: an SPKI PEM file (the `.pub` LOOM writes).
 *
 * @returns null when the file does not exist
 * @throws {TypeError} when it holds no Ed25519 public key
 */
export async function readTrustedKey(path: string): Promise<TrustedKey | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (error) {
    throw new TypeError(`Cannot read audit public key "${path}": not a PEM public key`, {
      cause: error,
    });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new TypeError(`Cannot read audit public key "${path}": not an Ed25519 key`);
  }
  return trustedKeyOf(key);
}

/** A trusted key from an Ed25519 public key object. */
export function trustedKeyOf(key: KeyObject): TrustedKey {
  const raw = rawPublicKey(key);
  return {
    keyId: keyIdOf(raw),
    hint: keyHintOf(CHECKPOINT_KEY_NAME, Buffer.from(raw, "base64url")),
    key,
  };
}
