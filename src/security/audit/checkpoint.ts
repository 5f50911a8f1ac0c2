/**
 * Signed checkpoints of the audit log (`docs/security-requirements.md`, AUD-10).
 *
 * A plain hash chain proves that no record inside it was changed, but not
 * that the chain is the one that was written: whoever can edit the file can
 * cut its last records, or change a record and recompute every hash after it,
 * and the chain still verifies. A checkpoint commits to the head of the chain
 * at some moment, `(seq, hash)`: since each record's hash covers `prev`, that
 * pair commits to every record up to `seq`. It is signed with an Ed25519 key
 * kept outside the log directory (`$LOOM_HOME/keys/audit-signing.key`, 0600,
 * never readable by agent hosts), so someone who can edit the log but not read
 * that key cannot make a checkpoint agree with a shortened or rewritten chain.
 *
 * One checkpoint is one line of `checkpoints.jsonl` beside the log, the
 * canonical JSON of
 *
 * ```text
 * {"hash":H,"key_id":K,"log":L,"public_key":P,"seq":N,"sig":S,"time":T}
 * ```
 *
 * where `S` is the base64url Ed25519 signature over the UTF-8 bytes of
 * `loom-audit-checkpoint/v1\n` followed by the canonical JSON of
 * `{hash, key_id, log, seq, time}`: the log's random id `L` (so a checkpoint of
 * one log cannot vouch for another), the size `N`, the head hash `H`, the time
 * `T` (ISO-8601 UTC) and the key id `K` (the first 16 hex digits of the SHA-256
 * of the raw public key `P`, base64url). The same line is what
 * `loom audit checkpoint` prints for export and `loom audit verify --against`
 * reads back.
 *
 * Trust comes from the public key the verifier pins (the `.pub` file beside
 * the private key, or one the auditor passes), never from `P` in the line: an
 * attacker can write any key into a line they forge.
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
import { canonicalJson } from "../../_util/canonical_json.ts";
import {
  ensurePrivateDir,
  readPrivateFile,
  writeFileAtomic,
  writeFileExclusive,
} from "../../store/mod.ts";

/** The checkpoint file's name inside the log directory. */
export const CHECKPOINT_FILE_NAME = "checkpoints.jsonl";

/** The file holding the log's random id, inside the log directory. */
export const LOG_ID_FILE_NAME = "audit.id";

/** What a checkpoint signature covers, before the canonical body. */
const SIGNING_CONTEXT = "loom-audit-checkpoint/v1\n";
const HEX64 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const LOG_ID = /^[A-Za-z0-9-]{8,64}$/;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const MAX_KEY_FILE_BYTES = 4096;

/** One signed checkpoint, as stored and exported. */
export interface Checkpoint {
  /** The log's random id (`audit.id`). */
  readonly log: string;
  /** The number of records covered: the `seq` of the head record. */
  readonly seq: number;
  /** The head record's hash. */
  readonly hash: string;
  /** When it was signed, ISO-8601 UTC. */
  readonly time: string;
  /** First 16 hex digits of SHA-256 of the raw public key. */
  readonly key_id: string;
  /** The raw Ed25519 public key, base64url (informative: trust comes from the pinned key). */
  readonly public_key: string;
  /** Ed25519 signature, base64url. */
  readonly sig: string;
}

/** The outcome of {@linkcode parseCheckpointLine}. */
export type CheckpointParse =
  | { readonly ok: true; readonly checkpoint: Checkpoint }
  | { readonly ok: false; readonly reason: string };

/** A public key a verifier trusts, with its id. */
export interface TrustedKey {
  readonly keyId: string;
  readonly key: KeyObject;
}

/** The private half, able to sign checkpoints. Never leaves the writer. */
export interface CheckpointSigner {
  readonly keyId: string;
  /** The raw public key, base64url. */
  readonly publicKey: string;
  /** Sign a checkpoint of `(log, seq, hash)` at `time`. */
  sign(log: string, seq: number, hash: string, time: string): Checkpoint;
}

/** The bytes a checkpoint's signature covers. */
function signedBytes(c: Omit<Checkpoint, "sig" | "public_key">): Uint8Array {
  return ENCODER.encode(
    SIGNING_CONTEXT +
      canonicalJson({ hash: c.hash, key_id: c.key_id, log: c.log, seq: c.seq, time: c.time }),
  );
}

/** The raw public key (base64url) of an Ed25519 key object. */
function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" }) as { x?: string };
  if (typeof jwk.x !== "string") throw new TypeError("Not an Ed25519 key");
  return jwk.x;
}

/** The key id of a raw public key (base64url): 16 hex digits of its SHA-256. */
export function keyIdOf(publicKey: string): string {
  return createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest("hex").slice(
    0,
    16,
  );
}

/** The line (with newline) a checkpoint is stored and exported as. */
export function formatCheckpointLine(c: Checkpoint): string {
  return canonicalJson({
    hash: c.hash,
    key_id: c.key_id,
    log: c.log,
    public_key: c.public_key,
    seq: c.seq,
    sig: c.sig,
    time: c.time,
  }) + "\n";
}

/**
 * Parse one checkpoint line (without its newline). Checks the shape only; the
 * signature is checked by {@linkcode checkCheckpointSignature}.
 */
export function parseCheckpointLine(line: string): CheckpointParse {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" };
  }
  const v = value as Record<string, unknown>;
  if (typeof v.log !== "string" || !LOG_ID.test(v.log)) return bad("log");
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 0) return bad("seq");
  if (typeof v.hash !== "string" || !HEX64.test(v.hash)) return bad("hash");
  if (typeof v.time !== "string" || Number.isNaN(Date.parse(v.time))) return bad("time");
  if (typeof v.key_id !== "string" || !KEY_ID.test(v.key_id)) return bad("key_id");
  if (typeof v.public_key !== "string" || !B64URL.test(v.public_key)) return bad("public_key");
  if (typeof v.sig !== "string" || !B64URL.test(v.sig)) return bad("sig");
  return {
    ok: true,
    checkpoint: {
      log: v.log,
      seq: v.seq,
      hash: v.hash,
      time: v.time,
      key_id: v.key_id,
      public_key: v.public_key,
      sig: v.sig,
    },
  };
}

function bad(field: string): CheckpointParse {
  return { ok: false, reason: `field "${field}" missing or malformed` };
}

/**
 * Check a checkpoint's signature against the trusted keys.
 *
 * @returns null when it verifies; otherwise why not (`unknown key` or `bad signature`)
 */
export function checkCheckpointSignature(
  c: Checkpoint,
  trusted: readonly TrustedKey[],
): string | null {
  const key = trusted.find((k) => k.keyId === c.key_id);
  if (key === undefined) return `signed by unknown key ${c.key_id}`;
  let ok = false;
  try {
    ok = verify(null, signedBytes(c), key.key, Buffer.from(c.sig, "base64url"));
  } catch {
    ok = false;
  }
  return ok ? null : "bad signature";
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
  const keyId = keyIdOf(publicKey);
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
    keyId,
    publicKey,
    sign(log, seq, hash, time) {
      const body = { log, seq, hash, time, key_id: keyId };
      const sig = sign(null, signedBytes(body), privateKey).toString("base64url");
      return { ...body, public_key: publicKey, sig };
    },
  };
}

/** The public key file that goes with a private key file: `x.key` → `x.pub`. */
export function publicKeyFileOf(keyFile: string): string {
  return (keyFile.endsWith(".key") ? keyFile.slice(0, -4) : keyFile) + ".pub";
}

/**
 * Read a trusted public key: an SPKI PEM file (the `.pub` LOOM writes) or a
 * checkpoint line's raw key (base64url) given as text.
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
  return { keyId: keyIdOf(rawPublicKey(key)), key };
}

/** A new random log id: `loom-` and a UUID. */
export function newLogId(): string {
  return `loom-${crypto.randomUUID()}`;
}

/** Whether `text` is a well-formed log id. */
export function isLogId(text: string): boolean {
  return LOG_ID.test(text);
}
