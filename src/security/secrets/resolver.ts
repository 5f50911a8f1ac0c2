/**
 * Resolution of the secrets of one tool call, for the gate.
 *
 * Defends against:
 * - a secret reaching an agent or origin it was not meant for: each name
 *   needs a grant for the agent pinned to exactly the running config's
 *   digest (`grants.ts`), and the gate asks only for the names of the
 *   bridge being called, passing that bridge's own origin (the bridge
 *   renderer pins the origin and never forwards secrets on a cross-origin
 *   redirect). The origin is recorded in each record;
 * - unaudited release: every resolution, granted or denied, appends one
 *   `credential_access` record by key name, and nothing is released until
 *   the records are durable; if the audit log cannot be written, no secret
 *   leaves. A record of a decrypted value carries its salted `value_hmac`
 *   (`audit_hmac.ts`); a refusal by policy never decrypts, so its record
 *   carries nothing derived from the value (`docs/security-requirements.md`
 *   SEC-7, SEC-12);
 * - a misleading refusal: it says which problem it is (not set, not
 *   granted, or granted to an earlier version of the config) and the command
 *   that fixes it (`problems.ts`), reading the vault's names, never a value;
 * - leaking a value in results, errors or audit fields: the result carries a
 *   {@linkcode Redactor} for exactly the released values.
 *
 * Caching: a decrypted value stays in memory for at most `cacheTtlMs`,
 * attached to the parsed vault entry it came from (so, in effect, keyed by
 * name, version and ciphertext); any change to the vault file yields new
 * entries (`vault.ts`), so the next resolution decrypts and authenticates
 * again. Redactors are reused per set of entries while fresh, since building
 * one compiles a RegExp.
 *
 * @module
 */

import { LoomError } from "../../errors.ts";
import type { AuditLog } from "../audit/mod.ts";
import { Redactor } from "../redact/mod.ts";
import { checkRequest } from "./_checks.ts";
import { recordCredentialAccess } from "./_record.ts";
import type { VaultData, VaultEntry } from "./_vault_file.ts";
import type { SecretGrants } from "./grants.ts";
import {
  type DenialReason,
  describeSecretProblem,
  diagnoseSecret,
  type SecretProblem,
} from "./problems.ts";
import type { SecretVault } from "./vault.ts";

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

/** The outcome of {@linkcode SecretResolver.resolve}. */
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

/** Options of a {@linkcode SecretResolver}. */
export interface SecretResolverOptions {
  vault: SecretVault;
  grants: SecretGrants;
  /** Where every resolution is recorded. */
  audit: AuditLog;
  /**
   * How long a decrypted value may stay in memory, in milliseconds (checked
   * by the caller; 0 disables caching). Threat: a longer cache keeps
   * plaintext in the process longer; it never outlives `close()`.
   */
  cacheTtlMs: number;
}

interface CachedValue {
  value: string;
  /** `hmac-sha256:<hex>` of the value, for audit records. */
  hmac: string;
  expires: number;
}

const CACHE_LIMIT = 1024;

/** Resolves, audits and caches the secrets of tool calls. */
export class SecretResolver {
  #vault: SecretVault;
  #grants: SecretGrants;
  #audit: AuditLog;
  #ttl: number;
  #cache = new WeakMap<VaultEntry, CachedValue>();
  #ids = new WeakMap<VaultEntry, number>();
  #nextId = 0;
  #redactors = new Map<string, { redactor: Redactor; expires: number }>();

  /** A resolver over a vault and grants. */
  constructor(options: SecretResolverOptions) {
    this.#vault = options.vault;
    this.#grants = options.grants;
    this.#audit = options.audit;
    this.#ttl = options.cacheTtlMs;
  }

  /**
   * Resolve the secrets of one call. Stops at the first refusal. One
   * `credential_access` record per name examined, durable before this
   * returns. A refusal by policy is a value (`ok: false`); infrastructure
   * failures throw after recording the denial (fail closed).
   *
   * @param request agent, config digest, names, origin, tool and call id
   * @returns the values and a redactor for them, or the first refusal
   * @throws {IntegrityError} when the vault or an entry was tampered with, or
   *   the master key is wrong
   * @throws {PolicyError} when the key file or vault is not private
   * @throws {LoomError} `AUDIT_UNAVAILABLE` when a record cannot be written
   */
  async resolve(request: ResolveRequest): Promise<ResolveResult> {
    checkRequest(request);
    const names = [...new Set(request.names)];
    const values = new Map<string, string>();
    const entries: VaultEntry[] = [];
    const records: Promise<unknown>[] = [];
    const audit = (name: string, granted: boolean, reason?: string, hmac?: string) => {
      const p = recordCredentialAccess(this.#audit, {
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
        const grant = this.#grants.get(request.agent, name);
        if (grant === undefined || !this.#grants.matches(grant, request.configDigest)) {
          refused = diagnoseSecret(name, {
            agent: request.agent,
            configDigest: request.configDigest,
            set: await this.#vault.has(name),
            grantedDigest: grant?.configDigest ?? null,
          });
        } else {
          const data = await this.#vault.current();
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

  /** Drop the cached redactors (they hold plaintext), e.g. after a `remove`. */
  forgetRedactors(): void {
    this.#redactors.clear();
  }

  /** Drop every cached value and redactor. */
  close(): void {
    this.#cache = new WeakMap();
    this.#redactors.clear();
  }

  async #decrypt(data: VaultData, name: string, entry: VaultEntry): Promise<CachedValue> {
    const now = Date.now();
    const hit = this.#cache.get(entry);
    if (hit !== undefined && hit.expires > now) return hit;
    this.#cache.delete(entry);
    const value = await this.#vault.open(data, name, entry);
    const opened = { value, hmac: await this.#vault.valueHmac(value), expires: 0 };
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
}
