/**
 * Config signatures: `NAME.yaml.sig` beside `NAME.yaml`, a signed statement
 * (`statement.ts`, format `loom-config-signature/2`) naming the agent, the
 * SHA-256 of the config file's exact bytes (the `config.source.digest` the
 * loader computed from the bytes it parsed, so the bytes verified are the
 * bytes served; any byte changed is a different config), a version and an
 * expiry.
 *
 * A check, in order: the signature verifies (`crypto.subtle.verify`) with a
 * key this home trusts; it covers these bytes and this agent name; it has not
 * expired (freeze); its version is not lower than the highest this home
 * accepted for the agent (rollback), nor was it signed or accepted before for
 * other bytes (a version number is used once). Accepting records `(agent,
 * version, digest)` in the state database (`src/store/config_versions.ts`) in
 * the transaction that checks the version.
 *
 * Does not defend against a stolen trusted key, a reviewer who signed a bad
 * config, nor a rollback on a home that never accepted the newer version (a
 * fresh home, or its database deleted); unsigned configs load (with a
 * warning) unless signatures are required.
 *
 * @module
 */

import { IntegrityError, PolicyError } from "../../errors.ts";
import type { AuditLog, SignatureVerdict } from "../audit/mod.ts";
import type { LoomHome, LoomStore } from "../../store/mod.ts";
import { openStore, writeFileAtomic } from "../../store/mod.ts";
import type { VersionEntry, VersionJudgement } from "../../store/mod.ts";
import {
  fromBase64Url,
  loadHmacKey,
  loadTrustedKey,
  type SigningAlgorithm,
  type SigningKey,
} from "./keys.ts";
import {
  type ConfigSignature,
  createSignature,
  parseExpiresOption,
  parseSignature,
  verifyStatement,
} from "./statement.ts";

/** The suffix of a config's signature file. */
export const SIGNATURE_SUFFIX = ".sig";

/** The largest signature file read. */
const MAX_SIGNATURE_BYTES = 4096;

/** A signature closer than this to its expiry loads with a warning. */
export const EXPIRY_WARNING_MS = 14 * 86_400_000;

/** The config a signature is about: agent name, path as given, hex digest of its bytes. */
export interface SignedConfig {
  name: string;
  path: string;
  digest: string;
}

/** What a check found. */
export type SignatureCheck =
  | {
    verdict: "valid";
    algorithm: SigningAlgorithm;
    keyId: string;
    signedAt: string;
    version: number;
    expires: string;
  }
  | { verdict: "unsigned" }
  | {
    verdict: Exclude<SignatureVerdict, "valid" | "unsigned">;
    /** What is wrong, for the operator. */
    detail: string;
    keyId?: string;
    algorithm?: string;
    version?: number;
    expires?: string;
  };

/** The signature file of a config file. */
export function signaturePath(configPath: string): string {
  return configPath + SIGNATURE_SUFFIX;
}

/** Options of {@linkcode prepareSignature} and {@linkcode signConfig}. */
export interface SignOptions {
  /** The version to sign; default one more than the highest this home signed or accepted. */
  version?: number;
  /** The expiry; default 365 days after `now`. */
  expires?: Date;
  /** The signing time (default: now). */
  now?: Date;
}

/**
 * Sign a config and write its signature file atomically; the version is
 * reserved in this home's state first.
 *
 * @param home the LOOM home (its state database keeps the version counter)
 * @param config agent name, path (the signature goes to `path + ".sig"`) and digest
 * @param key this home's signing key
 * @param options version, expiry, clock
 * @returns the signature written
 * @throws {IntegrityError} when the version is used for other bytes or is
 *   lower than one this home accepted
 */
export async function signConfig(
  home: LoomHome,
  config: SignedConfig,
  key: SigningKey,
  options: SignOptions = {},
): Promise<ConfigSignature> {
  const signature = await prepareSignature(home, config, key, options);
  await writeSignature(signaturePath(config.path), signature);
  return signature;
}

/**
 * Reserve a version for a config in this home's state and sign it (the
 * caller writes it: {@linkcode writeSignature}).
 *
 * @throws {IntegrityError} as {@linkcode signConfig}
 */
export async function prepareSignature(
  home: LoomHome,
  config: SignedConfig,
  key: SigningKey,
  options: SignOptions = {},
): Promise<ConfigSignature> {
  const now = options.now ?? new Date();
  const expires = options.expires ?? parseExpiresOption(undefined, now);
  let version: number;
  {
    await using store = await openStore(home);
    const reserved = store.configVersions.reserveForSigning({
      agent: config.name,
      version: options.version,
      configDigest: config.digest,
      keyId: key.keyId,
      expires: expires.toISOString(),
    }, now);
    if ("kind" in reserved) {
      throw new IntegrityError(
        `Cannot sign "${config.path}": ` +
          versionProblem(config, options.version ?? 0, reserved),
      );
    }
    version = reserved.version;
  }
  return await createSignature(
    { agent: config.name, digest: config.digest, version, expires, now },
    key,
  );
}

/** Write a signature file (0600, atomically: temp file and rename). */
export async function writeSignature(path: string, signature: ConfigSignature): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(signature, null, 2) + "\n"));
}

/** Options of {@linkcode checkConfigSignature}. */
export interface CheckOptions {
  /** The time to judge expiry at (default: now). */
  now?: Date;
}

/**
 * Check a config's signature file against the bytes loaded and this home's
 * accepted versions, without recording anything.
 *
 * @param home the LOOM home (trusted keys, HMAC key, accepted versions)
 * @param config agent name, path (its signature is `path + ".sig"`), digest of the bytes loaded
 * @param options the clock
 * @returns the verdict; never throws for a bad signature
 * @throws {PolicyError} when a key file is not private
 */
export async function checkConfigSignature(
  home: LoomHome,
  config: SignedConfig,
  options: CheckOptions = {},
): Promise<SignatureCheck> {
  return await checkWith(
    home,
    config,
    options.now ?? new Date(),
    (store, entry) => store.configVersions.judge(entry.agent, entry.version, entry.configDigest),
  );
}

type Judge = (store: LoomStore, entry: VersionEntry) => VersionJudgement;

async function checkWith(
  home: LoomHome,
  config: SignedConfig,
  now: Date,
  judge: Judge,
): Promise<SignatureCheck> {
  const path = signaturePath(config.path);
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
  const sig = parseSignature(text, config.path);
  if (typeof sig === "string") {
    return { verdict: "malformed", detail: `signature "${path}" ${sig}` };
  }
  const who = { keyId: sig.key_id, algorithm: sig.algorithm };
  let key: CryptoKey;
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
    key = trusted.key;
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
    key = hmac.key;
  }
  if (!(await verifyStatement(sig, fromBase64Url(sig.signature), key))) {
    return {
      verdict: "bad_signature",
      detail: `signature "${path}" does not verify with key ${sig.key_id}`,
      ...who,
    };
  }
  // From here on the statement is authentic: its fields can be believed.
  const signed = { ...who, version: sig.version, expires: sig.expires };
  if (sig.digest !== `sha256:${config.digest}`) {
    return {
      verdict: "digest_mismatch",
      detail: `the config changed since it was signed (sha256 ` +
        `${config.digest.slice(0, 12)}, signature covers ${sig.digest.slice(7, 19)})`,
      ...signed,
    };
  }
  if (sig.agent !== config.name) {
    return {
      verdict: "digest_mismatch",
      detail: `the signature is for agent "${sig.agent}", not "${config.name}"`,
      ...signed,
    };
  }
  if (now.getTime() >= Date.parse(sig.expires)) {
    return {
      verdict: "expired",
      detail: `signature of agent "${config.name}" expired at ${sig.expires}; re-sign it ` +
        `with "loom sign config ${config.path}"`,
      ...signed,
    };
  }
  const judgement = await (async () => {
    await using store = await openStore(home);
    return judge(store, {
      agent: config.name,
      version: sig.version,
      configDigest: config.digest,
      keyId: sig.key_id,
      expires: sig.expires,
    });
  })();
  if (judgement.kind !== "ok") {
    const detail = versionProblem(config, sig.version, judgement);
    return { verdict: judgement.kind, detail, ...signed };
  }
  return { verdict: "valid", ...who, signedAt: sig.signed_at, ...signed };
}

function versionProblem(
  config: SignedConfig,
  version: number,
  judgement: Exclude<VersionJudgement, { kind: "ok" }>,
): string {
  if (judgement.kind === "rollback") {
    return `signature of agent "${config.name}" is version ${version}, lower than version ` +
      `${judgement.highestAccepted} this LOOM home already accepted (rollback); to go back ` +
      `on purpose, sign these bytes as a new version with "loom sign config ${config.path}"`;
  }
  return `version ${version} of agent "${config.name}" was already signed or accepted ` +
    `for other bytes (sha256 ${judgement.knownDigest.slice(0, 12)}); a version number is ` +
    `used once: sign with a new version ("loom sign config ${config.path}")`;
}

/** How `loom run` treats a config without a signature, and its clock and warnings. */
export interface SignaturePolicy {
  /** Refuse unsigned configs (`--require-signed`, `LOOM_REQUIRE_SIGNED=1`). */
  requireSigned: boolean;
  /** The time to judge expiry at (default: now). */
  now?: Date;
  /** Told when an accepted signature expires within 14 days. */
  onWarning?: (message: string) => void;
}

/**
 * The check `loom run` makes before serving: verify, accept the version
 * (recorded in this home's state), record a `config_signature` `verify`
 * record, and refuse what must not load.
 *
 * @param home the LOOM home
 * @param audit where the check is recorded (durable before this returns)
 * @param config the loaded config: agent name, path as given, digest of its bytes
 * @param policy whether unsigned configs are refused; clock; warnings
 * @returns the verdict (`valid`, or `unsigned` when allowed)
 * @throws {IntegrityError} for a bad, mismatching, malformed, untrusted,
 *   expired, rolled back or reused-version signature
 * @throws {PolicyError} for an unsigned config when signatures are required
 */
export async function enforceConfigSignature(
  home: LoomHome,
  audit: AuditLog,
  config: SignedConfig,
  policy: SignaturePolicy,
): Promise<SignatureCheck> {
  const now = policy.now ?? new Date();
  const check = await checkWith(
    home,
    config,
    now,
    (store, entry) => store.configVersions.accept(entry, now),
  );
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
  if (check.verdict === "valid" && Date.parse(check.expires) - now.getTime() < EXPIRY_WARNING_MS) {
    policy.onWarning?.(
      `signature of agent "${config.name}" expires at ${check.expires}; re-sign it with ` +
        `"loom sign config ${config.path}"`,
    );
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
  config: SignedConfig,
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
    ...("version" in check && check.version !== undefined ? { version: check.version } : {}),
    ...("expires" in check && check.expires !== undefined ? { expires: check.expires } : {}),
  });
}
