/**
 * Config signing (`docs/security-controls.md`, config signing): Ed25519 (or
 * HMAC-SHA256) signatures over a statement naming the agent, the SHA-256 of
 * the config file's exact bytes, a version and an expiry (`statement.ts`),
 * stored beside it as `NAME.yaml.sig`, made and checked with Web Crypto.
 * Versions and expiry give rollback and freeze protection: a home refuses a
 * version lower than one it accepted, and an expired signature.
 *
 * - {@linkcode generateSigningKey}, {@linkcode loadSigningKey},
 *   {@linkcode trustPublicKey}, {@linkcode exportPublicKey}: this home's keys
 *   under `$LOOM_HOME/keys/` (0600) and the trusted public keys in
 *   `$LOOM_HOME/keys/trusted/`.
 * - {@linkcode signConfig} / {@linkcode checkConfigSignature}: write and
 *   check a signature file; a check returns a verdict (`valid`, `unsigned`,
 *   `digest_mismatch`, `bad_signature`, `untrusted_key`, `malformed`,
 *   `expired`, `rollback`, `version_reused`).
 * - {@linkcode enforceConfigSignature}: what `loom run` does before serving:
 *   check, accept the version in this home's state, record a
 *   `config_signature` audit record, and refuse a bad
 *   signature (`IntegrityError`, exit 65) or, when required, a missing one
 *   (`PolicyError`, exit 77).
 *
 * @example
 * ```ts
 * import { checkConfigSignature, generateSigningKey, loadSigningKey, signConfig } from "./mod.ts";
 * import { resolveHome } from "../../store/mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * const home = resolveHome(new Map([["LOOM_HOME", root]]));
 * await generateSigningKey(home, "ed25519");
 * // name and config.source.digest of the loaded config
 * const config = { name: "demo", path: `${root}/demo.yaml`, digest: "ab".repeat(32) };
 * const sig = await signConfig(home, config, await loadSigningKey(home, "ed25519"));
 * console.log(sig.version); // 1
 * const check = await checkConfigSignature(home, config);
 * console.log(check.verdict); // "valid"
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

export {
  exportPublicKey,
  type GeneratedKey,
  generateSigningKey,
  hasSigningKey,
  KEY_ID,
  listTrustedKeys,
  loadSigningKey,
  loadTrustedKey,
  type SigningAlgorithm,
  type SigningKey,
  type SigningKeyPaths,
  signingKeyPaths,
  type TrustedKey,
  trustPublicKey,
} from "./keys.ts";
export {
  checkConfigSignature,
  type CheckOptions,
  enforceConfigSignature,
  EXPIRY_WARNING_MS,
  prepareSignature,
  recordSignatureCheck,
  SIGNATURE_SUFFIX,
  type SignatureCheck,
  signaturePath,
  type SignaturePolicy,
  signConfig,
  type SignedConfig,
  type SignOptions,
  writeSignature,
} from "./signature.ts";
export {
  type ConfigSignature,
  createSignature,
  DEFAULT_VALIDITY_DAYS,
  OLD_SIGNATURE_FORMAT,
  parseExpiresOption,
  parseSignature,
  parseVersionOption,
  SIGNATURE_FORMAT,
  signedBytes,
  type StatementInput,
} from "./statement.ts";
