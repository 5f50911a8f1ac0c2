/**
 * The keys the vault holds in memory: the master key, the unwrapped data key
 * and the audit salt, each loaded once and only on first use (listing names
 * and grants needs no key). Defends against a wrapped data key that was
 * modified or wrapped under another master key: unwrapping it fails as
 * `INTEGRITY_FAILED`, naming the file, never a key. A load that fails is
 * retried on the next use rather than cached.
 *
 * @module
 */

import { LoomError } from "../../errors.ts";
import type { LoomHome } from "../../store/mod.ts";
import { unwrapDataKey } from "./_crypto.ts";
import type { VaultData, WrappedDataKey } from "./_vault_file.ts";
import { loadAuditHmacKey } from "./audit_hmac.ts";
import { loadMasterKey } from "./master_key.ts";

/** The master key, data key and audit salt of one LOOM home. */
export class VaultKeys {
  #home: LoomHome;
  #env: { get(key: string): string | undefined };
  #master: Promise<CryptoKey> | null = null;
  #dek: { id: string; key: Promise<CryptoKey> } | null = null;
  #hmac: Promise<CryptoKey> | null = null;

  /** Keys of `home`, the master key from `env` or the key file. */
  constructor(home: LoomHome, env: { get(key: string): string | undefined }) {
    this.#home = home;
    this.#env = env;
  }

  /**
   * The master key. The key file is created only when the vault holds no
   * values (a missing key with values present is an error, not a new key).
   */
  master(vaultHasEntries: boolean): Promise<CryptoKey> {
    if (this.#master === null) {
      const loading = loadMasterKey(this.#home, this.#env, { create: !vaultHasEntries })
        .then((k) => k.key);
      loading.catch(() => {
        if (this.#master === loading) this.#master = null; // retry next time
      });
      this.#master = loading;
    }
    return this.#master;
  }

  /** The audit salt as an HMAC key, created on first use. */
  auditKey(): Promise<CryptoKey> {
    if (this.#hmac === null) {
      const loading = loadAuditHmacKey(this.#home, { create: true });
      loading.catch(() => {
        if (this.#hmac === loading) this.#hmac = null; // retry next time
      });
      this.#hmac = loading;
    }
    return this.#hmac;
  }

  /**
   * The vault's data key, unwrapped once per stored key.
   *
   * @throws {TypeError} for a format-1 vault (it has no data key)
   */
  dataKey(data: VaultData): Promise<CryptoKey> {
    const dek = data.dek;
    if (dek === null) throw new TypeError("Cannot use the data key of a format 1 vault");
    const id = dataKeyId(data.vaultId, dek);
    if (this.#dek !== null && this.#dek.id === id) return this.#dek.key;
    const loading = this.master(true).then((master) =>
      unwrapDataKey(master, {
        vaultId: data.vaultId,
        kid: dek.kid,
        iv: dek.iv,
        wrapped: dek.wrapped,
      })
        .catch((error) => {
          throw new LoomError(
            "INTEGRITY_FAILED",
            `Cannot unwrap the data key of secrets file "${this.#home.secrets}": ` +
              `it was modified or the master key is wrong`,
            { cause: error },
          );
        })
    );
    loading.catch(() => {
      if (this.#dek?.key === loading) this.#dek = null; // retry next time
    });
    this.#dek = { id, key: loading };
    return loading;
  }

  /** Keep a data key just made (by a rotation), so it is not unwrapped again. */
  keepDataKey(
    vaultId: string,
    dek: Pick<WrappedDataKey, "kid" | "iv" | "wrapped">,
    key: CryptoKey,
  ): void {
    this.#dek = { id: dataKeyId(vaultId, dek), key: Promise.resolve(key) };
  }

  /** Drop the unwrapped data key. */
  forgetDataKey(): void {
    this.#dek = null;
  }
}

/** Identifies one wrapped data key. */
function dataKeyId(vaultId: string, dek: Pick<WrappedDataKey, "kid" | "iv" | "wrapped">): string {
  return `${vaultId}:${dek.kid}:${dek.iv.toBase64()}:${dek.wrapped.toBase64()}`;
}
