/**
 * The credential broker (`docs/security-controls.md` §4): stores secrets
 * encrypted at rest, keeps the grants that say which agent config may use which
 * secret, and resolves the secrets of one tool call.
 *
 * Grants are pinned: a grant binds `(agent, key)` to the SHA-256 digest of the
 * agent's config file at grant time, so a different config claiming the same
 * agent name gets nothing, and editing a config requires granting again.
 *
 * Origin scoping: a secret reaches only the origin of the bridge whose
 * template names it because the gate asks only for the names of the bridge
 * being called and passes that bridge's own origin; the bridge renderer pins
 * the origin and never forwards secrets on a cross-origin redirect. The broker
 * records the origin in each `credential_access` record.
 *
 * Every resolution, granted or denied, appends one `credential_access` record
 * by key name and waits until it is durable before releasing anything: if the
 * audit log cannot be written, no secret leaves the broker. A record of a
 * value the broker decrypted (and of a `set`) carries `value_hmac`, the
 * salted HMAC-SHA256 of the value (`audit_hmac.ts`), never the value; a
 * refusal by policy never decrypts, so its record carries nothing derived
 * from the value (`docs/security-requirements.md` SEC-7, SEC-12). A refusal says
 * which problem it is (not set, not granted, or granted to an earlier
 * version of the config) and the command that fixes it (`problems.ts`):
 * three causes behind one symptom would otherwise send the operator to the
 * wrong fix.
 *
 * Encryption at rest is envelope encryption (`_crypto.ts`): a data key
 * wrapped by the master key encrypts the values, and the vault counts the
 * encryptions made under it. A `set` that would take the count past
 * `rotateDataKeyAfter` first rotates: a new data key, every value re-encrypted
 * under fresh IVs, the vault rewritten atomically. {@linkcode
 * CredentialBroker.rotate} does the same on demand. A vault of format 1
 * (values under the master key) is read as it is and migrated by the next
 * `set` or `rotate`.
 *
 * Caching: a decrypted value stays in this process's memory for at most
 * `cacheTtlMs` (default 60 s), attached to the parsed vault entry it came
 * from (so, in effect, keyed by name, version and ciphertext), and the call
 * path does not pay an AES-GCM decryption each time. The vault file is
 * stat-ed on every call and re-read when its inode, size or times change;
 * re-reading yields new entries, so any change to the file (a `set`, a
 * `remove`, tampering) drops the cached plaintexts and the next resolution
 * decrypts, and authenticates, again. Grants are read from SQLite on every
 * call, so a `revoke` takes effect on the next call.
 *
 * @module
 */

import { LoomError, NotFoundError } from "../../errors.ts";
import { SECRET_NAME } from "../../_util/template.ts";
import {
  ensureHome,
  type Grant,
  type LoomHome,
  type LoomStore,
  openStore,
  statPrivateFile,
} from "../../store/mod.ts";
import type { AuditEntryInput, AuditLog } from "../audit/mod.ts";
import { Redactor } from "../redact/mod.ts";
import {
  createDataKey,
  entryAad,
  legacyEntryAad,
  openValue,
  sealValue,
  unwrapDataKey,
} from "./_crypto.ts";
import {
  emptyVault,
  readVault,
  type VaultData,
  type VaultEntry,
  withVaultLock,
  writeVault,
} from "./_vault.ts";
import { auditHmac, loadAuditHmacKey } from "./audit_hmac.ts";
import { loadMasterKey } from "./master_key.ts";
import {
  type DenialReason,
  describeSecretProblem,
  diagnoseSecret,
  type SecretProblem,
} from "./problems.ts";

/** Largest secret value, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 64 * 1024;

/**
 * Default of {@linkcode CredentialBrokerOptions.rotateDataKeyAfter}: 2^31
 * encryptions, half of NIST SP 800-38D §8.3's 2^32 cap for random 96-bit IVs.
 */
export const DEFAULT_DATA_KEY_ROTATION: number = 2 ** 31;

/** Agent names, as in configs: kebab-case, 1-64 characters. */
const AGENT_NAME = /^(?=.{1,64}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const DIGEST = /^[0-9a-f]{64}$/;

/** Options of {@linkcode CredentialBroker.open}. */
export interface CredentialBrokerOptions {
  /** The LOOM home (vault, key file, state database). */
  home: LoomHome;
  /** The environment (`LOOM_MASTER_KEY`). */
  env: { get(key: string): string | undefined };
  /** Where every change and every resolution is recorded. */
  audit: AuditLog;
  /** An open state database to use (not closed by the broker); by default the broker opens its own. */
  store?: LoomStore;
  /**
   * How long a decrypted value may stay in memory, in milliseconds (default
   * 60 000; 0 disables caching). Threat: a longer cache keeps plaintext in the
   * process longer; it never outlives `close()`.
   */
  cacheTtlMs?: number;
  /**
   * How many encryptions one data key may make: a `set` that would exceed it
   * first rotates the key (default {@linkcode DEFAULT_DATA_KEY_ROTATION}).
   * Threat: with random 96-bit IVs, an IV repeats with non-negligible
   * probability past 2^32 encryptions under one AES-GCM key (NIST SP 800-38D
   * §8.3), and a repeated IV reveals the XOR of two values and lets tags be
   * forged. Lower it only in tests.
   */
  rotateDataKeyAfter?: number;
}

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

/** One row of {@linkcode CredentialBroker.policy}. */
export interface PolicyRow {
  agent: string;
  key: string;
  /** The first 12 hex digits of the pinned config digest. */
  configDigest: string;
  grantedAt: string;
  /**
   * Given the current config to {@linkcode CredentialBroker.policy}: for that
   * agent's grants, true when pinned to another digest (the config changed
   * since), false when pinned to it; absent for other agents' grants.
   */
  stale?: boolean;
}

/** What the gate asks for on one call. */
export interface ResolveRequest {
  /** The agent's name (`config.name`). */
  agent: string;
  /** The digest of the running config (`config.source.digest`). */
  configDigest: string;
  /** The secret names the called bridge's templates use. */
  names: readonly string[];
  /** The origin of the called bridge (`scheme://host:port`), recorded in the audit record. */
  origin: string;
  /** The tool being called. */
  tool: string;
  /** The call id (as in the `tool_call` records). */
  call: string;
  /**
   * The config file's path as the operator gave it, for the command a
   * refusal's message suggests (`loom secrets grant ... --config PATH`).
   */
  configPath?: string;
}

/** The outcome of {@linkcode CredentialBroker.resolve}. */
export type ResolveResult =
  | {
    ok: true;
    /** Values by name, for this call only. */
    values: Map<string, string>;
    /** Removes these values from results, errors and audit fields. */
    redactor: Redactor;
  }
  | {
    ok: false;
    /** The first name refused. */
    name: string;
    /** Why. */
    reason: DenialReason;
    /**
     * A message for the tool error: which problem it is and the `loom
     * secrets` command that fixes it ({@linkcode describeSecretProblem}),
     * without any value.
     */
    message: string;
  };

interface CachedValue {
  value: string;
  /** `hmac-sha256:<hex>` of the value, for audit records. */
  hmac: string;
  expires: number;
}

interface VaultSnapshot {
  stamp: string;
  data: VaultData;
  /** False when the file changed too recently for its stamp to be trusted. */
  trusted: boolean;
}

const CACHE_LIMIT = 1024;

/**
 * The broker. Open with {@linkcode CredentialBroker.open}; close when done.
 *
 * @example
 * ```ts ignore
 * await using broker = await CredentialBroker.open({ home, env: Deno.env, audit });
 * await broker.set("gh-token", value);
 * await broker.grant("github", "gh-token", config.source.digest);
 * const r = await broker.resolve({
 *   agent: config.name, configDigest: config.source.digest, names: ["gh-token"],
 *   origin: "https://api.github.com", tool: "list_issues", call: "c1",
 * });
 * ```
 */
export class CredentialBroker implements AsyncDisposable {
  #home: LoomHome;
  #env: { get(key: string): string | undefined };
  #audit: AuditLog;
  #store: LoomStore;
  #ownsStore: boolean;
  #ttl: number;
  #rotateAfter: number;
  #key: Promise<CryptoKey> | null = null;
  #dek: { id: string; key: Promise<CryptoKey> } | null = null;
  #hmacKey: Promise<CryptoKey> | null = null;
  #snapshot: VaultSnapshot | null = null;
  #cache = new WeakMap<VaultEntry, CachedValue>();
  #ids = new WeakMap<VaultEntry, number>();
  #nextId = 0;
  #redactors = new Map<string, { redactor: Redactor; expires: number }>();
  #closed = false;

  private constructor(options: CredentialBrokerOptions, store: LoomStore, ownsStore: boolean) {
    this.#home = options.home;
    this.#env = options.env;
    this.#audit = options.audit;
    this.#store = store;
    this.#ownsStore = ownsStore;
    this.#ttl = options.cacheTtlMs ?? 60_000;
    this.#rotateAfter = options.rotateDataKeyAfter ?? DEFAULT_DATA_KEY_ROTATION;
  }

  /**
   * Open the broker. The master key is loaded on first use, so listing names
   * and grants needs no key.
   *
   * @param options home, environment, audit log, optional store and cache TTL
   * @returns the broker
   * @throws {PolicyError} when the state database is not private
   */
  static async open(options: CredentialBrokerOptions): Promise<CredentialBroker> {
    const ttl = options.cacheTtlMs ?? 60_000;
    if (!Number.isFinite(ttl) || ttl < 0) {
      throw new RangeError("Cannot open broker: cacheTtlMs must be a non-negative number");
    }
    const rotateAfter = options.rotateDataKeyAfter ?? DEFAULT_DATA_KEY_ROTATION;
    if (!Number.isSafeInteger(rotateAfter) || rotateAfter < 1 || rotateAfter > 2 ** 32) {
      throw new RangeError(
        "Cannot open broker: rotateDataKeyAfter must be a whole number from 1 to 2^32",
      );
    }
    await ensureHome(options.home);
    if (options.store) return new CredentialBroker(options, options.store, false);
    return new CredentialBroker(options, await openStore(options.home), true);
  }

  /**
   * Store (or replace) a secret. The value is encrypted under the vault's data
   * key with a fresh IV and the next version number, and the vault is
   * rewritten atomically. Rotates the data key first when this encryption
   * would exceed `rotateDataKeyAfter`, and migrates a format-1 vault. The
   * `set` record carries the value's `value_hmac`.
   *
   * @param name a secret name (`[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`)
   * @param value the value: non-empty, at most 64 KiB, no NUL, CR or LF (it is
   *   sent in HTTP headers)
   * @returns the stored entry's name, version and time
   * @throws {LoomError} `INPUT_INVALID` for a bad name or value (the value is never quoted)
   * @throws {LoomError} `INTEGRITY_FAILED` when existing values cannot be
   *   decrypted for a rotation (nothing is written)
   * @throws {PolicyError} when the key file, audit salt or vault is not private
   */
  async set(name: string, value: string): Promise<SecretInfo> {
    this.#open();
    checkName(name);
    checkValue(name, value);
    // Before anything is written: a salt that cannot be used stops the set.
    const valueHmac = await auditHmac(await this.#auditKey(), value);
    let rotation: DataKeyRotation | null = null;
    const info = await withVaultLock(this.#home, async () => {
      const data = (await readVault(this.#home.secrets)) ?? emptyVault();
      const master = await this.#masterKey(data.entries.size > 0);
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
        key = await this.#dataKey(data);
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
   * Replace the data key now (after a suspected exposure, or on a schedule):
   * a new key wrapped by the master key, every value re-encrypted under it
   * with fresh IVs, the vault rewritten atomically. Migrates a format-1 vault.
   * Recorded as a `credential_access` record with action `rotate`.
   *
   * @returns the new and previous key ids and the number of values re-encrypted
   * @throws {NotFoundError} when no vault exists
   * @throws {LoomError} `INTEGRITY_FAILED` when a value or the data key cannot
   *   be decrypted (nothing is written)
   * @throws {PolicyError} when the key file or vault is not private
   */
  async rotate(): Promise<DataKeyRotation> {
    this.#open();
    const rotation = await withVaultLock(this.#home, async () => {
      const data = await readVault(this.#home.secrets);
      if (data === null) {
        throw new NotFoundError("Cannot rotate the data key: no secrets are stored");
      }
      const master = await this.#masterKey(data.entries.size > 0);
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
   * Delete a secret. Grants naming it stay (a later `set` restores access);
   * resolutions meanwhile are denied with `not_found`.
   *
   * @returns true when it existed
   */
  async remove(name: string): Promise<boolean> {
    this.#open();
    checkName(name);
    const removed = await withVaultLock(this.#home, async () => {
      const data = await readVault(this.#home.secrets);
      if (data === null || !data.entries.delete(name)) return false;
      await writeVault(this.#home.secrets, data);
      this.#snapshot = null;
      return true;
    });
    if (removed) {
      this.#redactors.clear();
      await this.#record({ agent: "loom", action: "remove", key: name });
    }
    return removed;
  }

  /** The stored secret names, sorted. Needs no key. */
  async names(): Promise<string[]> {
    return (await this.list()).map((s) => s.name);
  }

  /** The stored secrets (name, version, time), sorted by name. Needs no key. */
  async list(): Promise<SecretInfo[]> {
    this.#open();
    const data = await readVault(this.#home.secrets);
    if (data === null) return [];
    return [...data.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, e]) => ({ name, version: e.version, updatedAt: e.updatedAt }));
  }

  /**
   * Allow an agent whose config has this digest to use a secret. Replaces an
   * earlier grant of the same pair (re-grant after editing the config).
   *
   * @param agent the agent name (kebab-case)
   * @param name the secret name
   * @param configDigest hex SHA-256 of the agent's config file (`config.source.digest`)
   * @returns the stored grant
   * @throws {LoomError} `INPUT_INVALID` for a malformed agent, name or digest
   */
  async grant(agent: string, name: string, configDigest: string): Promise<Grant> {
    this.#open();
    checkAgent(agent);
    checkName(name);
    if (typeof configDigest !== "string" || !DIGEST.test(configDigest)) {
      throw new LoomError(
        "INPUT_INVALID",
        "Invalid config digest: expected 64 lowercase hex digits",
      );
    }
    const grant = this.#store.grants.put({ agent, key: name, configDigest });
    await this.#record({ agent, action: "grant", key: name, config_digest: configDigest });
    return grant;
  }

  /**
   * Withdraw a grant.
   *
   * @returns true when there was one
   */
  async revoke(agent: string, name: string): Promise<boolean> {
    this.#open();
    checkAgent(agent);
    checkName(name);
    const removed = this.#store.grants.delete(agent, name);
    if (removed) await this.#record({ agent, action: "revoke", key: name });
    return removed;
  }

  /**
   * Every grant: agent, key, the first 12 hex digits of the pinned digest,
   * time. Never values.
   *
   * @param current an agent and the digest of its config as it is now: that
   *   agent's rows say whether they are `stale` (pinned to another digest)
   * @returns the grants, ordered by agent then key
   */
  policy(current?: { agent: string; configDigest: string }): PolicyRow[] {
    this.#open();
    return this.#store.grants.list().map((g) => ({
      agent: g.agent,
      key: g.key,
      configDigest: g.configDigest.slice(0, 12),
      grantedAt: g.grantedAt,
      ...(current?.agent === g.agent ? { stale: g.configDigest !== current.configDigest } : {}),
    }));
  }

  /**
   * Resolve the secrets of one call. Each name needs a grant for the agent
   * pinned to exactly `configDigest`, and must exist in the vault. Stops at the
   * first refusal. One `credential_access` record per name examined, durable
   * before this returns.
   *
   * A refusal says which problem it is: `not_found` (not set, whatever the
   * grant), `no_grant`, or `config_mismatch` (the grant is pinned to another
   * digest), with the command that fixes it. Telling them apart reads the
   * vault's names, never a value.
   *
   * A refusal by policy is a value (`ok: false`); infrastructure failures
   * throw after recording the denial (fail closed).
   *
   * @param request agent, config digest, names, origin, tool and call id
   * @returns the values and a redactor for them, or the first refusal
   * @throws {IntegrityError} when the vault or an entry was tampered with, or
   *   the master key is wrong
   * @throws {PolicyError} when the key file or vault is not private
   * @throws {LoomError} `AUDIT_UNAVAILABLE` when a record cannot be written
   */
  async resolve(request: ResolveRequest): Promise<ResolveResult> {
    this.#open();
    checkRequest(request);
    const names = [...new Set(request.names)];
    const values = new Map<string, string>();
    const entries: VaultEntry[] = [];
    const records: Promise<unknown>[] = [];
    const audit = (name: string, granted: boolean, reason?: string, hmac?: string) => {
      const p = this.#record({
        agent: request.agent,
        tool: request.tool,
        call: request.call,
        action: "resolve",
        key: name,
        granted,
        reason,
        origin: request.origin,
        value_hmac: hmac,
      });
      p.catch(() => {}); // observed below
      records.push(p);
    };
    let denial: ResolveResult | null = null;
    for (const name of names) {
      let refused: SecretProblem | null = null;
      let hmac: string | undefined;
      try {
        const grant = SECRET_NAME.test(name)
          ? this.#store.grants.get(request.agent, name)
          : undefined;
        if (grant === undefined || grant.configDigest !== request.configDigest) {
          refused = diagnoseSecret(name, {
            agent: request.agent,
            configDigest: request.configDigest,
            set: await this.#isSet(name),
            grantedDigest: grant?.configDigest ?? null,
          });
        } else {
          const data = await this.#vault();
          const entry = data?.entries.get(name);
          if (data === null || entry === undefined) {
            refused = diagnoseSecret(name, {
              agent: request.agent,
              configDigest: request.configDigest,
              set: false,
              grantedDigest: grant.configDigest,
            });
          } else {
            const opened = await this.#decrypt(data, name, entry);
            values.set(name, opened.value);
            hmac = opened.hmac;
            entries.push(entry);
          }
        }
      } catch (error) {
        audit(name, false, error instanceof LoomError ? error.code.toLowerCase() : "internal");
        await Promise.allSettled(records);
        throw error;
      }
      if (refused !== null) {
        audit(name, false, refused.reason);
        const message = describeSecretProblem(refused, { configPath: request.configPath });
        denial = { ok: false, name, reason: refused.reason, message };
        break;
      }
      audit(name, true, undefined, hmac);
    }
    await Promise.all(records);
    if (denial !== null) return denial;
    return { ok: true, values, redactor: this.#redactor(values, entries) };
  }

  /** Forget cached values and close the store if the broker opened it. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#cache = new WeakMap();
      this.#redactors.clear();
      this.#snapshot = null;
      this.#dek = null;
      if (this.#ownsStore) this.#store.close();
    }
    return Promise.resolve();
  }

  /** Same as {@linkcode CredentialBroker.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #open(): void {
    if (this.#closed) {
      throw new LoomError("UNAVAILABLE", "Cannot use credential broker: it is closed");
    }
  }

  #masterKey(vaultHasEntries: boolean): Promise<CryptoKey> {
    if (this.#key === null) {
      const loading = loadMasterKey(this.#home, this.#env, { create: !vaultHasEntries })
        .then((k) => k.key);
      loading.catch(() => {
        if (this.#key === loading) this.#key = null; // retry next time
      });
      this.#key = loading;
    }
    return this.#key;
  }

  /**
   * Whether the vault holds `name`, for a refusal's message only: null when
   * the vault cannot be read (the refusal stands either way). Decrypts nothing.
   */
  async #isSet(name: string): Promise<boolean | null> {
    try {
      return (await this.#vault())?.entries.has(name) ?? false;
    } catch {
      return null;
    }
  }

  /** The current vault, re-read when the file changed. */
  async #vault(): Promise<VaultData | null> {
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

  /** The audit salt as an HMAC key, created on first use. */
  #auditKey(): Promise<CryptoKey> {
    if (this.#hmacKey === null) {
      const loading = loadAuditHmacKey(this.#home, { create: true });
      loading.catch(() => {
        if (this.#hmacKey === loading) this.#hmacKey = null; // retry next time
      });
      this.#hmacKey = loading;
    }
    return this.#hmacKey;
  }

  /** The vault's data key, unwrapped once per stored key. */
  #dataKey(data: VaultData): Promise<CryptoKey> {
    const dek = data.dek;
    if (dek === null) throw new TypeError("Cannot use the data key of a format 1 vault");
    const id = `${data.vaultId}:${dek.kid}:${dek.iv.toBase64()}:${dek.wrapped.toBase64()}`;
    if (this.#dek !== null && this.#dek.id === id) return this.#dek.key;
    const loading = this.#masterKey(true).then((master) =>
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
    const id = `${data.vaultId}:${fresh.kid}:${fresh.iv.toBase64()}:${fresh.wrapped.toBase64()}`;
    this.#dek = { id, key: Promise.resolve(fresh.key) };
    return fresh.key;
  }

  /** Decrypt one entry (format 1: under the master key; 2: under the data key). */
  async #openEntry(
    data: VaultData,
    name: string,
    entry: VaultEntry,
    master?: CryptoKey,
  ): Promise<string> {
    const legacy = entry.kid === null;
    const key = legacy ? (master ?? await this.#masterKey(true)) : await this.#dataKey(data);
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

  async #decrypt(data: VaultData, name: string, entry: VaultEntry): Promise<CachedValue> {
    const now = Date.now();
    const hit = this.#cache.get(entry);
    if (hit !== undefined && hit.expires > now) return hit;
    this.#cache.delete(entry);
    const value = await this.#openEntry(data, name, entry);
    const opened = { value, hmac: await auditHmac(await this.#auditKey(), value), expires: 0 };
    if (this.#ttl > 0) this.#cache.set(entry, { ...opened, expires: now + this.#ttl });
    return opened;
  }

  /** One redactor per set of entries, reused while fresh (building one compiles a RegExp). */
  #redactor(values: Map<string, string>, entries: VaultEntry[]): Redactor {
    if (this.#ttl === 0 || values.size === 0) return new Redactor(values);
    const id = entries.map((e) => this.#idOf(e)).join(",");
    const now = Date.now();
    const hit = this.#redactors.get(id);
    if (hit !== undefined && hit.expires > now) return hit.redactor;
    const redactor = new Redactor(values);
    for (const [k, v] of this.#redactors) if (v.expires <= now) this.#redactors.delete(k);
    if (this.#redactors.size >= CACHE_LIMIT) this.#redactors.clear();
    this.#redactors.set(id, { redactor, expires: now + this.#ttl });
    return redactor;
  }

  #idOf(entry: VaultEntry): number {
    let id = this.#ids.get(entry);
    if (id === undefined) this.#ids.set(entry, id = ++this.#nextId);
    return id;
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

  #record(fields: { agent: string; [field: string]: unknown }): Promise<unknown> {
    const entry: AuditEntryInput = { event: "credential_access", tool: null, ...fields };
    return this.#audit.append(entry);
  }
}

function checkName(name: string): void {
  if (typeof name !== "string" || !SECRET_NAME.test(name)) {
    throw new LoomError(
      "INPUT_INVALID",
      "Invalid secret name: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit",
    );
  }
}

function checkAgent(agent: string): void {
  if (typeof agent !== "string" || !AGENT_NAME.test(agent)) {
    throw new LoomError("INPUT_INVALID", "Invalid agent name: use kebab-case, 1-64 characters");
  }
}

function checkValue(name: string, value: string): void {
  if (typeof value !== "string") throw new TypeError("Secret value must be a string");
  if (value.length === 0) {
    throw new LoomError("INPUT_INVALID", `Cannot store secret "${name}": the value is empty`);
  }
  if (/[\0\r\n]/.test(value)) {
    throw new LoomError(
      "INPUT_INVALID",
      `Cannot store secret "${name}": the value contains NUL, CR or LF ` +
        `(secrets are sent in HTTP headers)`,
    );
  }
  if (new TextEncoder().encode(value).length > MAX_SECRET_BYTES) {
    throw new LoomError(
      "INPUT_INVALID",
      `Cannot store secret "${name}": the value is larger than ${MAX_SECRET_BYTES} bytes`,
    );
  }
}

function checkRequest(request: ResolveRequest): void {
  for (const field of ["agent", "configDigest", "origin", "tool", "call"] as const) {
    if (typeof request[field] !== "string") {
      throw new TypeError(`Cannot resolve secrets: request.${field} must be a string`);
    }
  }
  if (!Array.isArray(request.names) || request.names.some((n) => typeof n !== "string")) {
    throw new TypeError("Cannot resolve secrets: request.names must be an array of strings");
  }
}
