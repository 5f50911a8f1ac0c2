/**
 * The credential broker (`docs/security-controls.md` §4): secrets encrypted
 * at rest in `$LOOM_HOME/secrets.enc` by envelope encryption (a data key,
 * AES-256-GCM, fresh IV per value, additional data
 * `loom:v2:<vault_id>:<name>:<version>:<kid>`, wrapped by the master key and
 * rotated well before 2^32 encryptions), a master key from `LOOM_MASTER_KEY`
 * or a private key file created on first use, grants pinned to the digest of
 * an agent's config, and audited resolution for the gate: records name
 * secrets by key and carry a salted `value_hmac`, never a value.
 *
 * - {@linkcode CredentialBroker}: `set`, `remove`, `names`/`list`, `grant`,
 *   `revoke`, `policy`, `rotate`, and `resolve` for one tool call; a facade
 *   over its three parts, which open and close together:
 *   {@linkcode SecretVault} (the encrypted vault file and its keys),
 *   {@linkcode SecretGrants} (grants pinned to a config digest) and
 *   {@linkcode SecretResolver} (audited resolution and the redactor).
 * - {@linkcode checkSecretAccess} / {@linkcode describeSecretProblem}: which
 *   secrets a config cannot use (not set, not granted, granted to an older
 *   version of the config) and the `loom secrets` command that fixes each;
 *   the same words as a refused call's message.
 * - {@linkcode loadMasterKey} / {@linkcode parseMasterKey}: the key sources.
 * - {@linkcode loadAuditHmacKey} / {@linkcode auditHmac}: the audit salt
 *   (`$LOOM_HOME/keys/audit.salt`) and `hmac-sha256:<hex>` of a value, as
 *   `loom audit hash` prints it.
 *
 * Files that group or others can access, that another uid owns, or that are
 * symlinks are refused (`PolicyError`, exit 77), naming the file.
 *
 * @example
 * ```ts
 * import { CredentialBroker } from "./mod.ts";
 * import { AuditLog } from "../audit/mod.ts";
 * import { resolveHome } from "../../store/mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * const home = resolveHome(new Map([["LOOM_HOME", root]]));
 * {
 *   await using audit = await AuditLog.open(home.audit);
 *   await using broker = await CredentialBroker.open({ home, env: new Map(), audit });
 *   await broker.set("api-key", "k-1234567890");
 *   const digest = "0".repeat(64); // config.source.digest of the agent's config
 *   await broker.grant("weather", "api-key", digest);
 *   const r = await broker.resolve({
 *     agent: "weather",
 *     configDigest: digest,
 *     names: ["api-key"],
 *     origin: "https://api.example.com",
 *     tool: "forecast",
 *     call: "c1",
 *   });
 *   if (r.ok) console.log(r.redactor.redact(`echo ${r.values.get("api-key")}`)); // "echo «redacted:api-key»"
 *   await broker.rotate(); // a new data key; every value re-encrypted
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

export { CredentialBroker, type CredentialBrokerOptions } from "./broker.ts";
export {
  type DataKeyRotation,
  DEFAULT_DATA_KEY_ROTATION,
  MAX_SECRET_BYTES,
  type RotationReason,
  type SecretInfo,
  SecretVault,
  type SecretVaultOptions,
} from "./vault.ts";
export { type PolicyRow, SecretGrants, SIGNER_PIN_PREFIX, type VerifiedSigner } from "./grants.ts";
export {
  type ResolveRequest,
  type ResolveResult,
  SecretResolver,
  type SecretResolverOptions,
} from "./resolver.ts";
export {
  checkSecretAccess,
  type DenialReason,
  describeSecretProblem,
  diagnoseSecret,
  type SecretProblem,
  type SecretState,
} from "./problems.ts";
export {
  auditHmac,
  auditSaltPath,
  loadAuditHmacKey,
  type LoadAuditHmacKeyOptions,
  VALUE_HMAC_PREFIX,
} from "./audit_hmac.ts";
export {
  loadMasterKey,
  type LoadMasterKeyOptions,
  MASTER_KEY_ENV,
  type MasterKey,
  masterKeyPath,
  type MasterKeySource,
  parseMasterKey,
} from "./master_key.ts";
