/**
 * Grants: which agent config may use which secret, kept in the state
 * database (`src/store/`).
 *
 * Defends against a config that claims another agent's name: a grant binds
 * `(agent, key)` to the SHA-256 digest of the agent's config file at grant
 * time, so a different config with the same `name` gets nothing, and editing
 * a config requires granting again. Grants are read from SQLite on every
 * lookup, so a `revoke` takes effect on the next call. `grant` and `revoke`
 * are `credential_access` records; listing shows digest prefixes, never
 * values.
 *
 * A grant may instead be pinned to a config signing key
 * ({@linkcode SecretGrants.grantToSigner}, `loom secrets grant --signed-by
 * KEYID`): stored as `signer:<KEYID>` in place of the digest, it matches only
 * the config that `loom run` verified as signed by that key
 * (`src/security/signing/`), whatever its digest, so a reviewed and re-signed
 * edit keeps its secrets. An unsigned config, or one signed by another key,
 * gets nothing.
 *
 * @module
 */

import { SECRET_NAME } from "../../_util/template.ts";
import type { Grant, LoomStore } from "../../store/mod.ts";
import type { AuditLog } from "../audit/mod.ts";
import { LoomError } from "../../errors.ts";
import { checkAgent, checkDigest, checkName } from "./_checks.ts";
import { recordCredentialAccess } from "./_record.ts";

/** One row of {@linkcode SecretGrants.policy}. */
export interface PolicyRow {
  agent: string;
  key: string;
  /** The first 12 hex digits of the pinned config digest, or `signer:<KEYID>`. */
  configDigest: string;
  grantedAt: string;
  /**
   * Given the current config to {@linkcode SecretGrants.policy}: for that
   * agent's grants, true when pinned to another digest (the config changed
   * since), false when pinned to it; absent for other agents' grants.
   */
  stale?: boolean;
}

/** The prefix of a grant pinned to a signing key instead of a digest. */
export const SIGNER_PIN_PREFIX = "signer:";

const SIGNING_KEY_ID = /^[0-9a-f]{16}$/;

/**
 * The config whose signature was verified before serving: its digest and the
 * id of the trusted key that signed it.
 */
export interface VerifiedSigner {
  /** Hex SHA-256 of the verified config bytes. */
  configDigest: string;
  /** The signing key's id (16 hex). */
  keyId: string;
}

/** The grant table of an open state database, with its audit records. */
export class SecretGrants {
  #store: LoomStore;
  #audit: AuditLog;
  #signer: VerifiedSigner | undefined;

  /**
   * Grants in `store` (not closed here), recorded in `audit`.
   *
   * @param signer the running config's verified signature, if any: grants
   *   pinned to its key match that config (and only it)
   */
  constructor(store: LoomStore, audit: AuditLog, signer?: VerifiedSigner) {
    this.#store = store;
    this.#audit = audit;
    this.#signer = signer;
  }

  /**
   * Whether a grant covers the config with this digest: pinned to exactly
   * this digest, or to the key that signed it (as verified before serving).
   */
  matches(grant: Grant, configDigest: string): boolean {
    if (grant.configDigest === configDigest) return true;
    const signer = this.#signer;
    return signer !== undefined && signer.configDigest === configDigest &&
      grant.configDigest === SIGNER_PIN_PREFIX + signer.keyId;
  }

  /**
   * Allow an agent to use a secret under any version of its config signed by
   * one key. Replaces an earlier grant of the same pair.
   *
   * @param agent the agent name (kebab-case)
   * @param name the secret name
   * @param keyId the signing key's id (16 hex, as `loom sign keygen` prints it)
   * @param configDigest hex SHA-256 of the config reviewed now (recorded only)
   * @returns the stored grant (`configDigest` is `signer:<keyId>`)
   * @throws {LoomError} `INPUT_INVALID` for a malformed agent, name, key id or digest
   */
  async grantToSigner(
    agent: string,
    name: string,
    keyId: string,
    configDigest: string,
  ): Promise<Grant> {
    checkAgent(agent);
    checkName(name);
    checkDigest(configDigest);
    if (typeof keyId !== "string" || !SIGNING_KEY_ID.test(keyId)) {
      throw new LoomError("INPUT_INVALID", "Invalid signing key id: expected 16 lowercase hex");
    }
    const grant = this.#store.grants.put({
      agent,
      key: name,
      configDigest: SIGNER_PIN_PREFIX + keyId,
    });
    await recordCredentialAccess(this.#audit, {
      agent,
      action: "grant",
      key: name,
      config_digest: configDigest,
      signed_by: keyId,
    });
    return grant;
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
    checkAgent(agent);
    checkName(name);
    checkDigest(configDigest);
    const grant = this.#store.grants.put({ agent, key: name, configDigest });
    await recordCredentialAccess(this.#audit, {
      agent,
      action: "grant",
      key: name,
      config_digest: configDigest,
    });
    return grant;
  }

  /**
   * Withdraw a grant.
   *
   * @returns true when there was one
   */
  async revoke(agent: string, name: string): Promise<boolean> {
    checkAgent(agent);
    checkName(name);
    const removed = this.#store.grants.delete(agent, name);
    if (removed) await recordCredentialAccess(this.#audit, { agent, action: "revoke", key: name });
    return removed;
  }

  /**
   * The grant of `(agent, name)` as stored now, whatever digest it is pinned
   * to; undefined without one or for a malformed name.
   */
  get(agent: string, name: string): Grant | undefined {
    return SECRET_NAME.test(name) ? this.#store.grants.get(agent, name) : undefined;
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
    return this.#store.grants.list().map((g) => {
      const signer = g.configDigest.startsWith(SIGNER_PIN_PREFIX);
      return {
        agent: g.agent,
        key: g.key,
        configDigest: signer ? g.configDigest : g.configDigest.slice(0, 12),
        grantedAt: g.grantedAt,
        // A signer pin's status depends on the signature, checked by `loom run`.
        ...(current?.agent === g.agent && !signer
          ? { stale: g.configDigest !== current.configDigest }
          : {}),
      };
    });
  }
}
