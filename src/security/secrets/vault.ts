/**
 * The encrypted vault `$LOOM_HOME/secrets.enc` and the keys that open it.
 *
 * Defends against:
 * - reading the vault file: values are sealed by envelope encryption
 *   (`_crypto.ts`), a data key wrapped by the master key; only names,
 *   versions and times are plain, so listing needs no key;
 * - tampering: each value's additional data binds vault id, name, version
 *   and key id, so a modified, moved or swapped entry fails authentication
 *   (`INTEGRITY_FAILED`, naming the secret, never its content);
 * - IV reuse under one AES-GCM key: the vault counts encryptions under its
 *   data key, and a `set` that would take the count past `rotateDataKeyAfter`
 *   first rotates: a new data key, every value re-encrypted under fresh IVs,
 *   the vault rewritten once, atomically. {@linkcode SecretVault.rotate} does
 *   the same on demand. A format-1 vault (values under the master key) is
 *   read as it is and migrated by the next `set` or `rotate`;
 * - lost updates between concurrent CLI processes: every read-modify-write
 *   holds the vault lock and ends in an atomic rename (`_vault_file.ts`);
 * - stale or tampered snapshots: {@linkcode SecretVault.current} stats the
 *   file on every call and re-reads it when its inode, size or times change,
 *   which yields new entry objects, so anything cached per entry (the
 *   resolver's plaintexts) is dropped.
 *
 * Every change is a `credential_access` record (`set` with the value's
 * salted `value_hmac`, `remove`, `rotate`), never the value.
 *
 * @module
 */

import { LoomError, NotFoundError } from "../../errors.ts";
import { type LoomHome, statPrivateFile } from "../../store/mod.ts";
import type { AuditLog } from "../audit/mod.ts";
import { createDataKey, entryAad, legacyEntryAad, openValue, sealValue } from "./_crypto.ts";
import { checkName, checkValue } from "./_checks.ts";
import { type CredentialAccessFields, recordCredentialAccess } from "./_record.ts";
import {
  emptyVault,
  readVault,
  type VaultData,
  type VaultEntry,
  withVaultLock,
  writeVault,
} from "./_vault_file.ts";
import { VaultKeys } from "./_vault_keys.ts";
import { auditHmac } from "./audit_hmac.ts";

export { MAX_SECRET_BYTES } from "./_checks.ts";

/**
 * Default data key rotation threshold: 2^31 encryptions, half of NIST SP
 * 800-38D §8.3's 2^32 cap for random 96-bit IVs.
 */
export const DEFAULT_DATA_KEY_ROTATION: number = 2 ** 31;

/** Why the data key was replaced. */
export type RotationReason = "manual" | "threshold" | "migration";

/** The outcome of a data key rotation. */
export interface DataKeyRotation {
  /** The new key's id (32 hex digits). */
  kid: string;
  /** The replaced key's id; null when a format-1 vault was migrated. */
  previousKid: string | null;
  /** Values re-encrypted under the new key. */
  values: number;
  reason: RotationReason;
}

/** A stored secret, without its value. */
export interface SecretInfo {
  name: string;
  version: number;
  updatedAt: string;
}

/** Options of a {@linkcode SecretVault}. */
export interface SecretVaultOptions {
  /** The LOOM home (vault, key files). */
  home: LoomHome;
  /** The environment (`LOOM_MASTER_KEY`). */
  env: { get(key: string): string | undefined };
  /** Where every change is recorded. */
  audit: AuditLog;
  /**
   * How many encryptions one data key may make (checked by the caller, 1 to
   * 2^32). Threat: past 2^32 random-IV encryptions an IV repeats with
   * non-negligible probability, revealing the XOR of two values.
   */
  rotateDataKeyAfter: number;
}

interface VaultSnapshot {
  stamp: string;
  data: VaultData;
  /** False when the file changed too recently for its stamp to be trusted. */
  trusted: boolean;
}

/**
 * The vault file and its keys: the master key (loaded on first use), the
 * unwrapped data key and the audit salt.
 */
export class SecretVault {
  #home: LoomHome;
  #audit: AuditLog;
  #rotateAfter: number;
  #keys: VaultKeys;
  #snapshot: VaultSnapshot | null = null;

  /** A vault over `options.home`; nothing is read until first use. */
  constructor(options: SecretVaultOptions) {
    this.#home = options.home;
    this.#keys = new VaultKeys(options.home, options.env);
    this.#audit = options.audit;
    this.#rotateAfter = options.rotateDataKeyAfter;
  }

  /**
   * Store (or replace) a secret under the data key with a fresh IV and the
   * next version number, rotating first when needed (see the module doc).
   *
   * @throws {LoomError} `INPUT_INVALID` for a bad name or value (the value is never quoted)
   * @throws {LoomError} `INTEGRITY_FAILED` when existing values cannot be
   *   decrypted for a rotation (nothing is written)
   * @throws {PolicyError} when the key file, audit salt or vault is not private
   */
  async set(name: string, value: string): Promise<SecretInfo> {
    checkName(name);
    checkValue(name, value);
    // Before anything is written: a salt that cannot be used stops the set.
    const valueHmac = await this.valueHmac(value);
    let rotation: DataKeyRotation | null = null;
    const info = await withVaultLock(this.#home, async () => {
      const data = (await readVault(this.#home.secrets)) ?? emptyVault();
      const master = await this.#keys.master(data.entries.size > 0);
      const version = (data.entries.get(name)?.version ?? 0) + 1;
      const others = [...data.entries.keys()].filter((n) => n !== name).length;
      let key: CryptoKey;
      if (data.entries.size === 0) {
        // A new or emptied vault: nothing to keep, start a fresh data key.
        key = await this.#replaceDataKey(data, master, { extra: 1 });
      } else if (data.format === 1 || data.dek === null) {
        key = await this.#replaceDataKey(data, master, { skip: name, extra: 1 });
        rotation = { kid: data.dek!.kid, previousKid: null, values: others, reason: "migration" };
      } else if (data.dek.encryptions + 1 > this.#rotateAfter) {
        const previousKid = data.dek.kid;
        key = await this.#replaceDataKey(data, master, { skip: name, extra: 1 });
        rotation = { kid: data.dek!.kid, previousKid, values: others, reason: "threshold" };
      } else {
        key = await this.#keys.dataKey(data);
      }
      const dek = data.dek!;
      const aad = entryAad({ vaultId: data.vaultId, name, version, kid: dek.kid });
      const { iv, ct } = await sealValue(key, value, aad);
      dek.encryptions += 1;
      const updatedAt = new Date().toISOString();
      data.entries.set(name, { iv, ct, version, updatedAt, kid: dek.kid });
      await writeVault(this.#home.secrets, data);
      this.#snapshot = null;
      return { name, version, updatedAt };
    });
    if (rotation !== null) await this.#recordRotation(rotation);
    await this.#record({
      agent: "loom",
      action: "set",
      key: name,
      version: info.version,
      value_hmac: valueHmac,
    });
    return info;
  }

  /**
   * Replace the data key now and re-encrypt every value under it.
   *
   * @throws {NotFoundError} when no vault exists
   * @throws {LoomError} `INTEGRITY_FAILED` when a value or the data key cannot
   *   be decrypted (nothing is written)
   * @throws {PolicyError} when the key file or vault is not private
   */
  async rotate(): Promise<DataKeyRotation> {
    const rotation = await withVaultLock(this.#home, async () => {
      const data = await readVault(this.#home.secrets);
      if (data === null) {
        throw new NotFoundError("Cannot rotate the data key: no secrets are stored");
      }
      const master = await this.#keys.master(data.entries.size > 0);
      const previousKid = data.dek?.kid ?? null;
      await this.#replaceDataKey(data, master, { extra: 0 });
      await writeVault(this.#home.secrets, data);
      this.#snapshot = null;
      const done: DataKeyRotation = {
        kid: data.dek!.kid,
        previousKid,
        values: data.entries.size,
        reason: "manual",
      };
      return done;
    });
    await this.#recordRotation(rotation);
    return rotation;
  }

  /**
   * Delete a secret; needs no key and keeps the vault's format.
   *
   * @returns true when it existed
   */
  async remove(name: string): Promise<boolean> {
    checkName(name);
    const removed = await withVaultLock(this.#home, async () => {
      const data = await readVault(this.#home.secrets);
      if (data === null || !data.entries.delete(name)) return false;
      await writeVault(this.#home.secrets, data);
      this.#snapshot = null;
      return true;
    });
    if (removed) await this.#record({ agent: "loom", action: "remove", key: name });
    return removed;
  }

  /** The stored secrets (name, version, time), sorted by name. Needs no key. */
  async list(): Promise<SecretInfo[]> {
    const data = await readVault(this.#home.secrets);
    if (data === null) return [];
    return [...data.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, e]) => ({ name, version: e.version, updatedAt: e.updatedAt }));
  }

  /**
   * The vault as it is now: the last parse while the file's stamp is
   * unchanged (and old enough to trust), else a fresh read.
   *
   * @returns the vault, or null when there is none
   * @throws {PolicyError} when the file is not private
   * @throws {IntegrityError} when it is malformed
   */
  async current(): Promise<VaultData | null> {
    const info = await statPrivateFile(this.#home.secrets, "secrets file");
    if (info === null) {
      this.#snapshot = null;
      return null;
    }
    const stamp = `${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
    const snap = this.#snapshot;
    if (snap !== null && snap.trusted && snap.stamp === stamp) return snap.data;
    const data = await readVault(this.#home.secrets);
    if (data === null) return null;
    // A file changed within the last 2 s may change again with the same stamp
    // (coarse timestamps): re-read it next time (git's "racy" rule).
    const changed = Math.max(info.mtime?.getTime() ?? 0, info.ctime?.getTime() ?? 0);
    this.#snapshot = { stamp, data, trusted: Date.now() - changed > 2000 };
    return data;
  }

  /**
   * Whether the vault holds `name`, for a refusal's message only: null when
   * the vault cannot be read (the refusal stands either way). Decrypts nothing.
   */
  async has(name: string): Promise<boolean | null> {
    try {
      return (await this.current())?.entries.has(name) ?? false;
    } catch {
      return null;
    }
  }

  /**
   * Decrypt one entry of `data` (format 1: under the master key; 2: under
   * the data key). Drops the snapshot when authentication fails.
   *
   * @throws {LoomError} `INTEGRITY_FAILED` when the entry was modified or the key is wrong
   */
  open(data: VaultData, name: string, entry: VaultEntry): Promise<string> {
    return this.#openEntry(data, name, entry);
  }

  /** `hmac-sha256:<hex>` of `value` under the audit salt (created on first use). */
  async valueHmac(value: string): Promise<string> {
    return auditHmac(await this.#keys.auditKey(), value);
  }

  /** Drop the snapshot and the unwrapped data key. */
  close(): void {
    this.#snapshot = null;
    this.#keys.forgetDataKey();
  }

  /**
   * Give `data` a new data key and re-encrypt every value (but `skip`) under
   * it, in memory; the caller writes the vault. Fails before changing `data`
   * when a value cannot be decrypted.
   *
   * @returns the new (non-extractable) data key
   */
  async #replaceDataKey(
    data: VaultData,
    master: CryptoKey,
    options: { skip?: string; extra: number },
  ): Promise<CryptoKey> {
    const kept = [...data.entries].filter(([name]) => name !== options.skip);
    if (kept.length + options.extra > this.#rotateAfter) {
      throw new RangeError(
        `Cannot rotate the data key: ${kept.length + options.extra} encryptions exceed ` +
          `rotateDataKeyAfter (${this.#rotateAfter})`,
      );
    }
    const fresh = await createDataKey(master, data.vaultId);
    const entries = new Map<string, VaultEntry>();
    for (const [name, entry] of kept) {
      const value = await this.#openEntry(data, name, entry, master);
      const aad = entryAad({ vaultId: data.vaultId, name, version: entry.version, kid: fresh.kid });
      const { iv, ct } = await sealValue(fresh.key, value, aad);
      entries.set(name, {
        iv,
        ct,
        version: entry.version,
        updatedAt: entry.updatedAt,
        kid: fresh.kid,
      });
    }
    data.format = 2;
    data.entries = entries;
    data.dek = {
      kid: fresh.kid,
      iv: fresh.iv,
      wrapped: fresh.wrapped,
      encryptions: entries.size,
      createdAt: new Date().toISOString(),
    };
    this.#keys.keepDataKey(data.vaultId, fresh, fresh.key);
    return fresh.key;
  }

  async #openEntry(
    data: VaultData,
    name: string,
    entry: VaultEntry,
    master?: CryptoKey,
  ): Promise<string> {
    const legacy = entry.kid === null;
    const key = legacy ? (master ?? await this.#keys.master(true)) : await this.#keys.dataKey(data);
    const aad = legacy
      ? legacyEntryAad(data.vaultId, { name, version: entry.version })
      : entryAad({ vaultId: data.vaultId, name, version: entry.version, kid: entry.kid! });
    try {
      return await openValue(key, entry.iv, entry.ct, aad);
    } catch (error) {
      this.#snapshot = null;
      throw new LoomError(
        "INTEGRITY_FAILED",
        `Cannot decrypt secret "${name}": the vault entry was modified or the master key is wrong`,
        { cause: error },
      );
    }
  }

  #recordRotation(rotation: DataKeyRotation): Promise<unknown> {
    return this.#record({
      agent: "loom",
      action: "rotate",
      reason: rotation.reason,
      kid: rotation.kid,
      previous_kid: rotation.previousKid,
      values: rotation.values,
    });
  }

  #record(fields: CredentialAccessFields): Promise<unknown> {
    return recordCredentialAccess(this.#audit, fields);
  }
}
