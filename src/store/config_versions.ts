/**
 * The `config_versions` table of the state database: which signed config
 * versions this home has signed (`loom sign`) or accepted (`loom run`), per
 * agent name. It backs rollback protection (`src/security/signing/`,
 * `docs/security-controls.md`, config signing): a signed config whose
 * version is lower than the highest this home accepted for its agent is a
 * rollback, and a version number is used for one digest only.
 *
 * One row per `(agent, version)`: the digest it was signed or accepted for,
 * the key id and expiry of that signature, and when this home signed it
 * and/or accepted it. Each check-and-write is one `BEGIN IMMEDIATE`
 * transaction, so two processes (two servers, or the CLI and a server)
 * cannot both accept conflicting versions; a committed row survives power
 * loss (`synchronous=FULL`, see `db.ts`).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { immediate } from "./_transaction.ts";

/** Migration: the `config_versions` table. */
export const CONFIG_VERSIONS_MIGRATION_SQL = `CREATE TABLE config_versions (
  agent TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  config_digest TEXT NOT NULL,
  key_id TEXT NOT NULL,
  expires TEXT NOT NULL,
  signed_at TEXT,
  accepted_at TEXT,
  PRIMARY KEY (agent, version)
) STRICT, WITHOUT ROWID`;

/** One signed config version this home knows. */
export interface ConfigVersion {
  /** The config's agent name. */
  agent: string;
  /** The signed version number (a positive safe integer). */
  version: number;
  /** Hex SHA-256 of the config bytes this version was signed over. */
  configDigest: string;
  /** The signing key's id. */
  keyId: string;
  /** When the signature expires: ISO-8601 UTC. */
  expires: string;
  /** When this home signed it (`loom sign`), if it did. */
  signedAt?: string;
  /** When this home first accepted it (`loom run`), if it did. */
  acceptedAt?: string;
}

/** How a `(agent, version, digest)` compares with what this home knows. */
export type VersionJudgement =
  | { kind: "ok" }
  /** Lower than the highest version accepted for this agent. */
  | { kind: "rollback"; highestAccepted: number }
  /** This version was signed or accepted for other bytes. */
  | { kind: "version_reused"; knownDigest: string };

/** The `config_versions` table. */
export interface ConfigVersionTable {
  /** The highest version this home accepted for an agent, if any. */
  highestAccepted(agent: string): ConfigVersion | undefined;
  /** The highest version this home signed or accepted for an agent (0 when none). */
  highestKnown(agent: string): number;
  /** Compare a version with this home's state, without writing anything. */
  judge(agent: string, version: number, configDigest: string): VersionJudgement;
  /**
   * Accept a version: judge it and, when `ok`, record it as accepted, in one
   * transaction. Accepting the same version and digest again is `ok`.
   */
  accept(entry: VersionEntry, at: Date): VersionJudgement;
  /**
   * Reserve a version for signing: `version` when given, else one more than
   * the highest known (at least 1); refused (`version_reused`, `rollback`)
   * when the home already knows this version for other bytes, or accepted a
   * higher one. Returns the version reserved.
   */
  reserveForSigning(
    entry: Omit<VersionEntry, "version"> & { version?: number },
    at: Date,
  ): { version: number } | Exclude<VersionJudgement, { kind: "ok" }>;
}

/** What is recorded for a version. */
export interface VersionEntry {
  agent: string;
  version: number;
  configDigest: string;
  keyId: string;
  expires: string;
}

/** The table over an open database (statements prepared on use). */
export function configVersionTable(db: DatabaseSync): ConfigVersionTable {
  const row = (agent: string, version: number) =>
    db.prepare(
      `SELECT agent, version, config_digest, key_id, expires, signed_at, accepted_at
       FROM config_versions WHERE agent = ? AND version = ?`,
    ).get(agent, version);
  const highestAccepted = (agent: string) => {
    const found = db.prepare(
      `SELECT agent, version, config_digest, key_id, expires, signed_at, accepted_at
       FROM config_versions WHERE agent = ? AND accepted_at IS NOT NULL
       ORDER BY version DESC LIMIT 1`,
    ).get(agent);
    return found === undefined ? undefined : toVersion(found);
  };
  const highestKnown = (agent: string) => {
    const found = db.prepare("SELECT max(version) AS v FROM config_versions WHERE agent = ?")
      .get(agent);
    return typeof found?.v === "number" ? found.v : 0;
  };
  const judge = (agent: string, version: number, configDigest: string): VersionJudgement => {
    checkEntry(agent, version, configDigest);
    const same = row(agent, version);
    if (same !== undefined && String(same.config_digest) !== configDigest) {
      return { kind: "version_reused", knownDigest: String(same.config_digest) };
    }
    const highest = highestAccepted(agent);
    if (highest !== undefined && version < highest.version) {
      return { kind: "rollback", highestAccepted: highest.version };
    }
    return { kind: "ok" };
  };
  return {
    highestAccepted,
    highestKnown,
    judge,
    accept(entry, at) {
      return immediate(db, () => {
        const verdict = judge(entry.agent, entry.version, entry.configDigest);
        if (verdict.kind !== "ok") return verdict;
        db.prepare(
          `INSERT INTO config_versions
             (agent, version, config_digest, key_id, expires, signed_at, accepted_at)
           VALUES (?, ?, ?, ?, ?, NULL, ?)
           ON CONFLICT (agent, version) DO UPDATE SET
             accepted_at = coalesce(accepted_at, excluded.accepted_at),
             key_id = excluded.key_id, expires = excluded.expires`,
        ).run(
          entry.agent,
          entry.version,
          entry.configDigest,
          entry.keyId,
          entry.expires,
          at.toISOString(),
        );
        return verdict;
      });
    },
    reserveForSigning(entry, at) {
      return immediate(db, () => {
        const version = entry.version ?? Math.max(1, highestKnown(entry.agent) + 1);
        const verdict = judge(entry.agent, version, entry.configDigest);
        if (verdict.kind !== "ok") return verdict;
        db.prepare(
          `INSERT INTO config_versions
             (agent, version, config_digest, key_id, expires, signed_at, accepted_at)
           VALUES (?, ?, ?, ?, ?, ?, NULL)
           ON CONFLICT (agent, version) DO UPDATE SET
             signed_at = excluded.signed_at, key_id = excluded.key_id,
             expires = excluded.expires`,
        ).run(
          entry.agent,
          version,
          entry.configDigest,
          entry.keyId,
          entry.expires,
          at.toISOString(),
        );
        return { version };
      });
    },
  };
}

function toVersion(row: Record<string, unknown>): ConfigVersion {
  return {
    agent: String(row.agent),
    version: Number(row.version),
    configDigest: String(row.config_digest),
    keyId: String(row.key_id),
    expires: String(row.expires),
    ...(row.signed_at === null ? {} : { signedAt: String(row.signed_at) }),
    ...(row.accepted_at === null ? {} : { acceptedAt: String(row.accepted_at) }),
  };
}

function checkEntry(agent: string, version: number, configDigest: string): void {
  if (typeof agent !== "string" || agent.length === 0) {
    throw new TypeError("Cannot store config version: agent must be a non-empty string");
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TypeError("Cannot store config version: version must be a positive safe integer");
  }
  if (typeof configDigest !== "string" || !/^[0-9a-f]{64}$/.test(configDigest)) {
    throw new TypeError("Cannot store config version: configDigest must be 64 hex digits");
  }
}
