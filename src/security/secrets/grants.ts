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
 * @module
 */

import { SECRET_NAME } from "../../_util/template.ts";
import type { Grant, LoomStore } from "../../store/mod.ts";
import type { AuditLog } from "../audit/mod.ts";
import { checkAgent, checkDigest, checkName } from "./_checks.ts";
import { recordCredentialAccess } from "./_record.ts";

/** One row of {@linkcode SecretGrants.policy}. */
export interface PolicyRow {
  agent: string;
  key: string;
  /** The first 12 hex digits of the pinned config digest. */
  configDigest: string;
  grantedAt: string;
  /**
   * Given the current config to {@linkcode SecretGrants.policy}: for that
   * agent's grants, true when pinned to another digest (the config changed
   * since), false when pinned to it; absent for other agents' grants.
   */
  stale?: boolean;
}

/** The grant table of an open state database, with its audit records. */
export class SecretGrants {
  #store: LoomStore;
  #audit: AuditLog;

  /** Grants in `store` (not closed here), recorded in `audit`. */
  constructor(store: LoomStore, audit: AuditLog) {
    this.#store = store;
    this.#audit = audit;
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
    return this.#store.grants.list().map((g) => ({
      agent: g.agent,
      key: g.key,
      configDigest: g.configDigest.slice(0, 12),
      grantedAt: g.grantedAt,
      ...(current?.agent === g.agent ? { stale: g.configDigest !== current.configDigest } : {}),
    }));
  }
}
