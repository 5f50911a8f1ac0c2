/**
 * Config signatures: `NAME.yaml.sig` beside `NAME.yaml`, a JSON document
 *
 * ```json
 * { "format": "loom-config-signature/1", "algorithm": "ed25519",
 *   "key_id": "<16 hex>", "digest": "sha256:<64 hex>",
 *   "signed_at": "<ISO-8601 UTC>", "signature": "<base64url>" }
 * ```
 *
 * What is signed: the config file's exact bytes, through their SHA-256 (the
 * `config.source.digest` the loader computes from the bytes it parsed), as
 * the UTF-8 bytes of five lines joined by `\n`: the format, the algorithm,
 * the key id, the digest and the time. No normalisation: any byte changed,
 * even whitespace or a comment, is a different config. Checking the digest
 * the loader computed (not re-reading the file) means the bytes verified are
 * the bytes served.
 *
 * Defends against a config edited or replaced after review (digest
 * mismatch), a signature made by a key this home does not trust, and a forged
 * or altered signature file. Does not defend against a trusted key that was
 * stolen, nor a reviewer who signed a bad config; an unsigned config loads
 * (with a warning) unless signatures are required.
 *
 * @module
 */

import { IntegrityError, PolicyError } from "../../errors.ts";
import type { AuditLog, SignatureVerdict } from "../audit/mod.ts";
import type { LoomHome } from "../../store/mod.ts";
import { writeFileAtomic } from "../../store/mod.ts";
import {
  fromBase64Url,
  KEY_ID,
  loadHmacKey,
  loadTrustedKey,
  type SigningAlgorithm,
  type SigningKey,
  toBase64Url,
} from "./keys.ts";

/** The format tag of signature files. */
export const SIGNATURE_FORMAT = "loom-config-signature/1";

/** The suffix of a config's signature file. */
export const SIGNATURE_SUFFIX = ".sig";

/** The largest signature file read. */
const MAX_SIGNATURE_BYTES = 4096;

/** A signature file's content. */
export interface ConfigSignature {
  format: typeof SIGNATURE_FORMAT;
  algorithm: SigningAlgorithm;
  key_id: string;
  /** `sha256:<hex>` of the config file's bytes. */
  digest: string;
  signed_at: string;
  signature: string;
}

/** What a check found. */
export type SignatureCheck =
  | { verdict: "valid"; algorithm: SigningAlgorithm; keyId: string; signedAt: string }
  | { verdict: "unsigned" }
  | {
    verdict: Exclude<SignatureVerdict, "valid" | "unsigned">;
    /** What is wrong, for the operator. */
    detail: string;
    keyId?: string;
    algorithm?: string;
  };

/** The signature file of a config file. */
export function signaturePath(configPath: string): string {
  return configPath + SIGNATURE_SUFFIX;
}

/** The bytes a signature covers. */
function signedMessage(s: Omit<ConfigSignature, "signature">): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(
    [s.format, s.algorithm, s.key_id, s.digest, s.signed_at].join("\n"),
  );
}

/**
 * Sign a config digest and write the signature file atomically.
 *
 * @param configPath the config file (the signature goes to `configPath + ".sig"`)
 * @param digest hex SHA-256 of the config file's bytes (`config.source.digest`)
 * @param key this home's signing key
 * @returns the signature written
 */
export async function signConfig(
  configPath: string,
  digest: string,
  key: SigningKey,
): Promise<ConfigSignature> {
  const signature = await createSignature(digest, key);
  await writeSignature(signaturePath(configPath), signature);
  return signature;
}

/** A signature over a config digest, not yet written. */
export async function createSignature(
  digest: string,
  key: SigningKey,
): Promise<ConfigSignature> {
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new TypeError("Config digest must be 64 hex digits");
  const body = {
    format: SIGNATURE_FORMAT,
    algorithm: key.algorithm,
    key_id: key.keyId,
    digest: `sha256:${digest}`,
    signed_at: new Date().toISOString(),
  } as const;
  const algo = key.algorithm === "ed25519" ? "Ed25519" : "HMAC";
  const bytes = new Uint8Array(await crypto.subtle.sign(algo, key.key, signedMessage(body)));
  return { ...body, signature: toBase64Url(bytes) };
}

/** Write a signature file (0600, atomically: temp file and rename). */
export async function writeSignature(path: string, signature: ConfigSignature): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(signature, null, 2) + "\n"));
}

/**
 * Check a config's signature file against the digest of the bytes loaded.
 *
 * @param home the LOOM home (trusted keys, HMAC key)
 * @param configPath the config file; its signature is `configPath + ".sig"`
 * @param digest hex SHA-256 of the config bytes that were loaded
 * @returns the verdict; never throws for a bad signature
 * @throws {PolicyError} when a key file is not private
 */
export async function checkConfigSignature(
  home: LoomHome,
  configPath: string,
  digest: string,
): Promise<SignatureCheck> {
  const path = signaturePath(configPath);
  let text: string;
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile) {
      return { verdict: "malformed", detail: `signature "${path}" is not a regular file` };
    }
    if (info.size > MAX_SIGNATURE_BYTES) {
      return { verdict: "malformed", detail: `signature "${path}" is larger than 4 KiB` };
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { verdict: "unsigned" };
    throw error;
  }
  const sig = parseSignature(text);
  if (typeof sig === "string") {
    return { verdict: "malformed", detail: `signature "${path}" ${sig}` };
  }
  const who = { keyId: sig.key_id, algorithm: sig.algorithm };
  if (sig.digest !== `sha256:${digest}`) {
    return {
      verdict: "digest_mismatch",
      detail: `the config changed since it was signed (sha256 ` +
        `${digest.slice(0, 12)}, signature covers ${sig.digest.slice(7, 19)})`,
      ...who,
    };
  }
  const raw = fromBase64Url(sig.signature);
  const message = signedMessage(sig);
  let ok = false;
  if (sig.algorithm === "ed25519") {
    const trusted = await loadTrustedKey(home, sig.key_id);
    if (trusted === null) {
      return {
        verdict: "untrusted_key",
        detail: `it is signed by key ${sig.key_id}, which this LOOM home ` +
          `does not trust (no keys/trusted/${sig.key_id}.pub)`,
        ...who,
      };
    }
    ok = raw !== null && raw.length === 64 &&
      await crypto.subtle.verify("Ed25519", trusted.key, raw, message);
  } else {
    const hmac = await loadHmacKey(home);
    if (hmac === null || hmac.keyId !== sig.key_id) {
      return {
        verdict: "untrusted_key",
        detail: `it is signed by HMAC key ${sig.key_id}, which is not ` +
          `this LOOM home's HMAC key`,
        ...who,
      };
    }
    ok = raw !== null && raw.length === 32 &&
      await crypto.subtle.verify("HMAC", hmac.key, raw, message);
  }
  if (!ok) {
    return {
      verdict: "bad_signature",
      detail: `signature "${path}" does not verify with key ${sig.key_id}`,
      ...who,
    };
  }
  return { verdict: "valid", algorithm: sig.algorithm, keyId: sig.key_id, signedAt: sig.signed_at };
}

/** A parsed signature, or what is wrong with it. */
function parseSignature(text: string): ConfigSignature | string {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    return "is not JSON";
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return "is not a JSON object";
  if (doc.format !== SIGNATURE_FORMAT) return `is not a ${SIGNATURE_FORMAT} document`;
  if (doc.algorithm !== "ed25519" && doc.algorithm !== "hmac-sha256") {
    return `has an unknown algorithm (expected ed25519 or hmac-sha256)`;
  }
  if (typeof doc.key_id !== "string" || !KEY_ID.test(doc.key_id)) return "has no valid key_id";
  if (typeof doc.digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(doc.digest)) {
    return "has no valid digest";
  }
  if (typeof doc.signed_at !== "string" || doc.signed_at.length > 64) {
    return "has no valid signed_at";
  }
  if (typeof doc.signature !== "string") return "has no signature";
  return doc as unknown as ConfigSignature;
}

/** How `loom run` treats a config without a signature. */
export interface SignaturePolicy {
  /** Refuse unsigned configs (`--require-signed`, `LOOM_REQUIRE_SIGNED=1`). */
  requireSigned: boolean;
}

/**
 * The check `loom run` makes before serving: verify, record a
 * `config_signature` `verify` record, and refuse what must not load.
 *
 * @param home the LOOM home
 * @param audit where the check is recorded (durable before this returns)
 * @param config the loaded config: agent name, path as given, digest of its bytes
 * @param policy whether unsigned configs are refused
 * @returns the verdict (`valid`, or `unsigned` when allowed)
 * @throws {IntegrityError} for a bad, mismatching, malformed or untrusted signature
 * @throws {PolicyError} for an unsigned config when signatures are required
 */
export async function enforceConfigSignature(
  home: LoomHome,
  audit: AuditLog,
  config: { name: string; path: string; digest: string },
  policy: SignaturePolicy,
): Promise<SignatureCheck> {
  const check = await checkConfigSignature(home, config.path, config.digest);
  const refused = check.verdict === "unsigned" ? policy.requireSigned : check.verdict !== "valid";
  await recordSignatureCheck(audit, config, check, refused);
  if (check.verdict === "unsigned" && refused) {
    throw new PolicyError(
      `Refusing unsigned config "${config.path}": signatures are required ` +
        `(--require-signed or LOOM_REQUIRE_SIGNED=1); sign it with "loom sign config ` +
        `${config.path}"`,
    );
  }
  if (check.verdict !== "valid" && check.verdict !== "unsigned") {
    throw new IntegrityError(`Refusing config "${config.path}": ${check.detail}`);
  }
  return check;
}

/**
 * Append a `config_signature` `verify` record and wait until it is durable.
 *
 * @param audit the log
 * @param config agent name, path and digest
 * @param check the verdict
 * @param refused whether the config was kept from loading
 */
export async function recordSignatureCheck(
  audit: AuditLog,
  config: { name: string; path: string; digest: string },
  check: SignatureCheck,
  refused: boolean,
): Promise<void> {
  await audit.append({
    event: "config_signature",
    agent: config.name,
    tool: null,
    action: "verify",
    path: config.path,
    config_digest: `sha256:${config.digest}`,
    verdict: check.verdict,
    refused,
    ...("keyId" in check && check.keyId !== undefined ? { key_id: check.keyId } : {}),
    ...("algorithm" in check && check.algorithm !== undefined
      ? { algorithm: check.algorithm }
      : {}),
  });
}
