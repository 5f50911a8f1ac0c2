/**
 * The signed statement of a config signature (format
 * `loom-config-signature/2`), as stored in `NAME.yaml.sig`:
 *
 * ```json
 * { "format": "loom-config-signature/2", "algorithm": "ed25519",
 *   "key_id": "<16 hex>", "agent": "<agent name>", "digest": "sha256:<64 hex>",
 *   "version": 3, "signed_at": "<ISO-8601 UTC>", "expires": "<ISO-8601 UTC>",
 *   "signature": "<base64url>" }
 * ```
 *
 * The signature covers every other member: the signed bytes are the
 * canonical JSON (RFC 8785, JCS: members sorted by name, no whitespace) of
 * the document without `signature`. A member added, removed or changed
 * breaks it, and a document with any member not listed above is refused.
 * The agent name is signed because versions count per agent name.
 *
 * Also here: parsing the `--version` and `--expires` options, and the
 * cryptographic check (`crypto.subtle.verify` for both algorithms: a MAC is
 * never compared by hand).
 *
 * @module
 */

import { UsageError } from "../../errors.ts";
import { KEY_ID, type SigningAlgorithm, type SigningKey, toBase64Url } from "./keys.ts";

/** The format tag of signature files. */
export const SIGNATURE_FORMAT = "loom-config-signature/2";

/** The format tag LOOM wrote before versions and expiry (refused, with a re-sign hint). */
export const OLD_SIGNATURE_FORMAT = "loom-config-signature/1";

/** How long a signature lasts unless `--expires` says otherwise. */
export const DEFAULT_VALIDITY_DAYS = 365;

/** A signature file's content. */
export interface ConfigSignature {
  format: typeof SIGNATURE_FORMAT;
  algorithm: SigningAlgorithm;
  key_id: string;
  /** The config's agent name (`agent.name`). */
  agent: string;
  /** `sha256:<hex>` of the config file's bytes. */
  digest: string;
  /** Positive safe integer; per agent name, higher is newer. */
  version: number;
  /** ISO-8601 UTC. */
  signed_at: string;
  /** ISO-8601 UTC, later than `signed_at`. */
  expires: string;
  signature: string;
}

/** The fields of a statement before it is signed. */
export interface StatementInput {
  /** The config's agent name. */
  agent: string;
  /** Hex SHA-256 of the config file's bytes. */
  digest: string;
  version: number;
  expires: Date;
  /** The signing time (default: now). */
  now?: Date;
}

const MEMBERS = [
  "agent",
  "algorithm",
  "digest",
  "expires",
  "format",
  "key_id",
  "signature",
  "signed_at",
  "version",
] as const;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** The bytes a signature covers: JCS of every member but `signature`. */
export function signedBytes(s: Omit<ConfigSignature, "signature">): Uint8Array<ArrayBuffer> {
  // Every value is a string or a safe integer, whose JSON.stringify form is
  // the JCS form; the members are written in sorted order.
  const body: Record<string, unknown> = {
    agent: s.agent,
    algorithm: s.algorithm,
    digest: s.digest,
    expires: s.expires,
    format: s.format,
    key_id: s.key_id,
    signed_at: s.signed_at,
    version: s.version,
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

/**
 * Sign a statement (nothing is written or recorded).
 *
 * @throws {TypeError} for a bad digest, agent name, version or expiry
 */
export async function createSignature(
  input: StatementInput,
  key: SigningKey,
): Promise<ConfigSignature> {
  if (!/^[0-9a-f]{64}$/.test(input.digest)) {
    throw new TypeError("Config digest must be 64 hex digits");
  }
  if (!validAgent(input.agent)) throw new TypeError("Agent name must be 1 to 64 printable chars");
  if (!Number.isSafeInteger(input.version) || input.version < 1) {
    throw new TypeError("Signature version must be a positive safe integer");
  }
  const now = input.now ?? new Date();
  if (!(input.expires.getTime() > now.getTime())) {
    throw new TypeError("Signature expiry must be later than its signing time");
  }
  const body = {
    format: SIGNATURE_FORMAT,
    algorithm: key.algorithm,
    key_id: key.keyId,
    agent: input.agent,
    digest: `sha256:${input.digest}`,
    version: input.version,
    signed_at: now.toISOString(),
    expires: input.expires.toISOString(),
  } as const;
  const algo = key.algorithm === "ed25519" ? "Ed25519" : "HMAC";
  const bytes = new Uint8Array(await crypto.subtle.sign(algo, key.key, signedBytes(body)));
  return { ...body, signature: toBase64Url(bytes) };
}

/**
 * Whether `signature` (raw bytes) is a valid signature of the statement by
 * `key`: `crypto.subtle.verify` for Ed25519 and for HMAC alike.
 */
export async function verifyStatement(
  statement: ConfigSignature,
  raw: Uint8Array<ArrayBuffer> | null,
  key: CryptoKey,
): Promise<boolean> {
  if (raw === null) return false;
  if (statement.algorithm === "ed25519") {
    return raw.length === 64 &&
      await crypto.subtle.verify("Ed25519", key, raw, signedBytes(statement));
  }
  return raw.length === 32 && await crypto.subtle.verify("HMAC", key, raw, signedBytes(statement));
}

/**
 * A parsed signature document, or what is wrong with it (after "signature
 * FILE "). A `loom-config-signature/1` document is refused with a hint to
 * re-sign.
 */
export function parseSignature(text: string, configPath: string): ConfigSignature | string {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    return "is not JSON";
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return "is not a JSON object";
  if (doc.format === OLD_SIGNATURE_FORMAT) {
    return `was written by an earlier LOOM (${OLD_SIGNATURE_FORMAT}, without version and ` +
      `expiry); re-sign it with "loom sign config ${configPath}"`;
  }
  if (doc.format !== SIGNATURE_FORMAT) return `is not a ${SIGNATURE_FORMAT} document`;
  const extra = Object.keys(doc).filter((k) => !(MEMBERS as readonly string[]).includes(k));
  if (extra.length > 0) return `has an unknown member "${extra[0].slice(0, 32)}"`;
  if (doc.algorithm !== "ed25519" && doc.algorithm !== "hmac-sha256") {
    return `has an unknown algorithm (expected ed25519 or hmac-sha256)`;
  }
  if (typeof doc.key_id !== "string" || !KEY_ID.test(doc.key_id)) return "has no valid key_id";
  if (!validAgent(doc.agent)) return "has no valid agent";
  if (typeof doc.digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(doc.digest)) {
    return "has no valid digest";
  }
  if (typeof doc.version !== "number" || !Number.isSafeInteger(doc.version) || doc.version < 1) {
    return "has no valid version (a positive integer)";
  }
  if (!isoTime(doc.signed_at)) return "has no valid signed_at (ISO-8601 UTC)";
  if (!isoTime(doc.expires)) return "has no valid expires (ISO-8601 UTC)";
  if (Date.parse(doc.expires) <= Date.parse(doc.signed_at)) {
    return "expires before it was signed";
  }
  if (typeof doc.signature !== "string") return "has no signature";
  return doc as unknown as ConfigSignature;
}

/**
 * The `--version` option: a positive safe integer.
 *
 * @throws {UsageError} otherwise
 */
export function parseVersionOption(text: string): number {
  const value = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(
      `Option --version must be a positive integer, got "${text.slice(0, 32)}"`,
    );
  }
  return value;
}

/**
 * The `--expires` option: a duration from now (`90d`, `12h`) or a date
 * (`2027-06-30`, or ISO-8601 UTC with a time). There is no "never": rollback
 * and freeze protection need every signature to end.
 *
 * @param text the option's value; undefined for the default (365 days)
 * @param now the signing time
 * @returns the expiry, later than `now`
 * @throws {UsageError} for `never`, an unreadable value or a time not after `now`
 */
export function parseExpiresOption(text: string | undefined, now: Date): Date {
  const DAY = 86_400_000;
  if (text === undefined) return new Date(now.getTime() + DEFAULT_VALIDITY_DAYS * DAY);
  if (/^(never|none|0|infinity)$/i.test(text.trim())) {
    throw new UsageError(
      `Option --expires cannot be "${text.trim()}": a signature must end, so that an old ` +
        `or withheld config cannot be served forever (freeze protection); give a duration ` +
        `such as 365d or 12h, or a date such as 2027-06-30`,
    );
  }
  let expires: Date;
  const duration = /^([1-9][0-9]{0,5})([dh])$/.exec(text);
  if (duration) {
    const unit = duration[2] === "d" ? DAY : 3_600_000;
    expires = new Date(now.getTime() + Number(duration[1]) * unit);
  } else if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    expires = new Date(`${text}T00:00:00.000Z`);
  } else if (ISO_UTC.test(text)) {
    expires = new Date(text);
  } else {
    expires = new Date(NaN);
  }
  if (Number.isNaN(expires.getTime())) {
    throw new UsageError(
      `Option --expires must be a duration (90d, 12h) or a UTC date (2027-06-30, ` +
        `2027-06-30T12:00:00Z), got "${text.slice(0, 40)}"`,
    );
  }
  if (expires.getTime() <= now.getTime()) {
    throw new UsageError(`Option --expires must be in the future, got "${text.slice(0, 40)}"`);
  }
  return expires;
}

function isoTime(value: unknown): value is string {
  return typeof value === "string" && ISO_UTC.test(value) && !Number.isNaN(Date.parse(value));
}

function validAgent(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= 64 &&
    // deno-lint-ignore no-control-regex
    !/[\u0000-\u001f\u007f]/.test(value);
}
