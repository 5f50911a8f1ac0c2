/**
 * Config signing (`docs/security-controls.md`, config signing): Ed25519 (or
 * HMAC-SHA256) signatures over the SHA-256 of a config file's exact bytes,
 * stored beside it as `NAME.yaml.sig`, made and checked with Web Crypto.
 *
 * - {@linkcode generateSigningKey}, {@linkcode loadSigningKey},
 *   {@linkcode trustPublicKey}, {@linkcode exportPublicKey}: this home's keys
 *   under `$LOOM_HOME/keys/` (0600) and the trusted public keys in
 *   `$LOOM_HOME/keys/trusted/`.
 * - {@linkcode signConfig} / {@linkcode checkConfigSignature}: write and
 *   check a signature file; a check returns a verdict (`valid`, `unsigned`,
 *   `digest_mismatch`, `bad_signature`, `untrusted_key`, `malformed`).
 * - {@linkcode enforceConfigSignature}: what `loom run` does before serving:
 *   check, record a `config_signature` audit record, and refuse a bad
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
 * const digest = "ab".repeat(32); // config.source.digest of the loaded config
 * await signConfig(`${root}/demo.yaml`, digest, await loadSigningKey(home, "ed25519"));
 * const check = await checkConfigSignature(home, `${root}/demo.yaml`, digest);
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
  type ConfigSignature,
  createSignature,
  enforceConfigSignature,
  recordSignatureCheck,
  SIGNATURE_FORMAT,
  SIGNATURE_SUFFIX,
  type SignatureCheck,
  signaturePath,
  type SignaturePolicy,
  signConfig,
  writeSignature,
} from "./signature.ts";
