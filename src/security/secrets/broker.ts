/**
 * The credential broker (`docs/security-controls.md` §4): one object that
 * opens the three parts over a LOOM home and closes them together.
 *
 * - `vault.ts` ({@linkcode SecretVault}): values encrypted at rest,
 *   data key rotation, the master key and audit salt;
 * - `grants.ts` ({@linkcode SecretGrants}): grants pinned to a config
 *   digest, in the state database;
 * - `resolver.ts` ({@linkcode SecretResolver}): audited resolution of one
 *   call's secrets and the redactor for them.
 *
 * What the broker itself defends against: use after `close()` (every method
 * refuses, so no cached plaintext or key outlives it) and options that would
 * weaken the parts (a negative cache lifetime, a rotation threshold past
 * 2^32 encryptions). Input checks live in `_checks.ts`; each part runs them.
 *
 * @module
 */

import { LoomError } from "../../errors.ts";
import {
  ensureHome,
  type Grant,
  type LoomHome,
  type LoomStore,
  openStore,
} from "../../store/mod.ts";
import type { AuditLog } from "../audit/mod.ts";
import { checkCacheTtl, checkRotationLimit } from "./_checks.ts";
import { type PolicyRow, SecretGrants, type VerifiedSigner } from "./grants.ts";
import { type ResolveRequest, type ResolveResult, SecretResolver } from "./resolver.ts";
import {
  type DataKeyRotation,
  DEFAULT_DATA_KEY_ROTATION,
  type SecretInfo,
  SecretVault,
} from "./vault.ts";

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
  /**
   * The running config's verified signature (`loom run` checks it before
   * serving): grants pinned to its key (`loom secrets grant --signed-by`)
   * match that config. Without it, only digest-pinned grants match.
   */
  signer?: VerifiedSigner;
}

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
  #vault: SecretVault;
  #grants: SecretGrants;
  #resolver: SecretResolver;
  #store: LoomStore;
  #ownsStore: boolean;
  #closed = false;

  private constructor(options: CredentialBrokerOptions, store: LoomStore, ownsStore: boolean) {
    this.#store = store;
    this.#ownsStore = ownsStore;
    this.#vault = new SecretVault({
      home: options.home,
      env: options.env,
      audit: options.audit,
      rotateDataKeyAfter: options.rotateDataKeyAfter ?? DEFAULT_DATA_KEY_ROTATION,
    });
    this.#grants = new SecretGrants(store, options.audit, options.signer);
    this.#resolver = new SecretResolver({
      vault: this.#vault,
      grants: this.#grants,
      audit: options.audit,
      cacheTtlMs: options.cacheTtlMs ?? 60_000,
    });
  }

  /**
   * Open the broker. The master key is loaded on first use, so listing names
   * and grants needs no key.
   *
   * @param options home, environment, audit log, optional store and cache TTL
   * @returns the broker
   * @throws {RangeError} for a negative `cacheTtlMs` or a `rotateDataKeyAfter` outside 1..2^32
   * @throws {PolicyError} when the state database is not private
   */
  static async open(options: CredentialBrokerOptions): Promise<CredentialBroker> {
    checkCacheTtl(options.cacheTtlMs ?? 60_000);
    checkRotationLimit(options.rotateDataKeyAfter ?? DEFAULT_DATA_KEY_ROTATION);
    await ensureHome(options.home);
    if (options.store) return new CredentialBroker(options, options.store, false);
    return new CredentialBroker(options, await openStore(options.home), true);
  }

  /**
   * Store (or replace) a secret ({@linkcode SecretVault.set}): encrypted with
   * a fresh IV and the next version, the vault rewritten atomically, the data
   * key rotated first when due. The `set` record carries the value's
   * `value_hmac`.
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
    return await this.#open().#vault.set(name, value);
  }

  /**
   * Replace the data key now (after a suspected exposure, or on a schedule)
   * ({@linkcode SecretVault.rotate}): every value re-encrypted under fresh
   * IVs, the vault rewritten atomically, a `rotate` record written.
   *
   * @returns the new and previous key ids and the number of values re-encrypted
   * @throws {NotFoundError} when no vault exists
   * @throws {LoomError} `INTEGRITY_FAILED` when a value or the data key cannot
   *   be decrypted (nothing is written)
   */
  async rotate(): Promise<DataKeyRotation> {
    return await this.#open().#vault.rotate();
  }

  /**
   * Delete a secret. Grants naming it stay (a later `set` restores access);
   * resolutions meanwhile are denied with `not_found`.
   *
   * @returns true when it existed
   */
  async remove(name: string): Promise<boolean> {
    const removed = await this.#open().#vault.remove(name);
    if (removed) this.#resolver.forgetRedactors();
    return removed;
  }

  /** The stored secret names, sorted. Needs no key. */
  async names(): Promise<string[]> {
    return (await this.list()).map((s) => s.name);
  }

  /** The stored secrets (name, version, time), sorted by name. Needs no key. */
  async list(): Promise<SecretInfo[]> {
    return await this.#open().#vault.list();
  }

  /**
   * Allow an agent whose config has this digest to use a secret
   * ({@linkcode SecretGrants.grant}).
   *
   * @throws {LoomError} `INPUT_INVALID` for a malformed agent, name or digest
   */
  async grant(agent: string, name: string, configDigest: string): Promise<Grant> {
    return await this.#open().#grants.grant(agent, name, configDigest);
  }

  /**
   * Allow an agent to use a secret under any version of its config signed by
   * the key `keyId` ({@linkcode SecretGrants.grantToSigner}).
   *
   * @throws {LoomError} `INPUT_INVALID` for a malformed agent, name, key id or digest
   */
  async grantToSigner(
    agent: string,
    name: string,
    keyId: string,
    configDigest: string,
  ): Promise<Grant> {
    return await this.#open().#grants.grantToSigner(agent, name, keyId, configDigest);
  }

  /**
   * Withdraw a grant.
   *
   * @returns true when there was one
   */
  async revoke(agent: string, name: string): Promise<boolean> {
    return await this.#open().#grants.revoke(agent, name);
  }

  /** Every grant, never values ({@linkcode SecretGrants.policy}). */
  policy(current?: { agent: string; configDigest: string }): PolicyRow[] {
    return this.#open().#grants.policy(current);
  }

  /**
   * Resolve the secrets of one call ({@linkcode SecretResolver.resolve}):
   * each name needs a grant pinned to exactly `configDigest` and must be in
   * the vault; one durable `credential_access` record per name examined.
   *
   * @throws {IntegrityError} when the vault or an entry was tampered with, or
   *   the master key is wrong
   * @throws {LoomError} `AUDIT_UNAVAILABLE` when a record cannot be written
   */
  async resolve(request: ResolveRequest): Promise<ResolveResult> {
    return await this.#open().#resolver.resolve(request);
  }

  /** Forget cached values and keys, and close the store if the broker opened it. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#resolver.close();
      this.#vault.close();
      if (this.#ownsStore) this.#store.close();
    }
    return Promise.resolve();
  }

  /** Same as {@linkcode CredentialBroker.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #open(): this {
    if (this.#closed) {
      throw new LoomError("UNAVAILABLE", "Cannot use credential broker: it is closed");
    }
    return this;
  }
}
