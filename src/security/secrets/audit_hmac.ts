/**
 * Salted hashes of secret values for the audit log (`docs/security-requirements.md`
 * SEC-12, after Vault's audit devices and `/sys/audit-hash`): a
 * `credential_access` record of a value the broker handled stores
 * `value_hmac: "hmac-sha256:<hex>"` = HMAC-SHA256(audit salt, UTF-8 value),
 * never the value or an unsalted hash, so an operator who knows a value
 * (say, a token found in a leak) can find the records of its use with
 * `loom audit hash`, while the log alone does not allow guessing values
 * offline.
 *
 * The salt is 32 random bytes in `$LOOM_HOME/keys/audit.salt`, created on
 * first use (mode 0600 in a 0700 directory, same checks as the master key
 * file). It is a separate file rather than derived from the master key so an
 * auditor can be given the salt and the log without the key that decrypts the
 * vault, and so it stays the same whichever key source (`LOOM_MASTER_KEY` or
 * the key file) is used. Whoever holds the salt and the log can test guesses
 * of a value: protect it like the log.
 *
 * @module
 */

import { join } from "node:path";
import { ensureHome, type LoomHome } from "../../store/mod.ts";
import { loadKeyFile } from "./_key_file.ts";

/** The prefix of every value HMAC. */
export const VALUE_HMAC_PREFIX = "hmac-sha256:";

/** The path of the audit salt inside a home. */
export function auditSaltPath(home: LoomHome): string {
  return join(home.keys, "audit.salt");
}

/** Options of {@linkcode loadAuditHmacKey}. */
export interface LoadAuditHmacKeyOptions {
  /** Create the salt file when it does not exist (default false). */
  create?: boolean;
  /**
   * Read the salt from this file instead of `$LOOM_HOME/keys/audit.salt`
   * (an auditor's copy). Never created; must be a private file.
   */
  path?: string;
}

/**
 * Load the audit salt as a non-extractable HMAC-SHA256 key.
 *
 * @param home the LOOM home
 * @param options whether to create a missing salt, or another salt file
 * @returns the key, for {@linkcode auditHmac}
 * @throws {PolicyError} when the salt file or its directory is not private
 * @throws {LoomError} `INTEGRITY_FAILED` when the file is not exactly 32 bytes
 * @throws {NotFoundError} when there is no salt and it is not to be created
 */
export async function loadAuditHmacKey(
  home: LoomHome,
  options: LoadAuditHmacKeyOptions = {},
): Promise<CryptoKey> {
  const own = options.path === undefined;
  const path = options.path ?? auditSaltPath(home);
  if (own) await ensureHome(home);
  const { raw } = await loadKeyFile(path, {
    what: "audit salt file",
    create: own && (options.create ?? false),
    privateDir: own,
    missing: `Cannot load audit salt: "${path}" does not exist ` +
      `(it is created when a secret is first stored or used)`,
  });
  try {
    return await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
  } finally {
    raw.fill(0);
  }
}

/**
 * The audit form of a value: `hmac-sha256:` and 64 lowercase hex digits.
 *
 * @param key from {@linkcode loadAuditHmacKey}
 * @param value the secret value
 * @returns `hmac-sha256:<hex>`
 */
export async function auditHmac(key: CryptoKey, value: string): Promise<string> {
  const bytes = new TextEncoder().encode(value);
  try {
    const mac = await crypto.subtle.sign("HMAC", key, bytes);
    return VALUE_HMAC_PREFIX + new Uint8Array(mac).toHex();
  } finally {
    bytes.fill(0);
  }
}
