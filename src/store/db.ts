/**
 * The state database `$LOOM_HOME/loom.db` (SQLite through `node:sqlite`; this
 * folder is its only user). Opened in WAL mode with `synchronous=FULL` (a
 * committed change survives power loss), a busy timeout so the CLI and a
 * running server can share it, and mode 0600. The schema is versioned by a
 * `schema_migrations` table; migrations run in one `BEGIN IMMEDIATE`
 * transaction so two processes opening a fresh home cannot both apply them.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { LoomError } from "../errors.ts";
import { ensureHome, type LoomHome } from "./home.ts";
import { statPrivateFile } from "./private_file.ts";
import {
  APPROVALS_MIGRATION_SQL,
  APPROVALS_REQUESTED_BY_MIGRATION_SQL,
  type ApprovalTable,
  approvalTable,
} from "./approvals.ts";
import {
  CONFIG_APPROVALS_MIGRATION_SQL,
  type ConfigApprovalTable,
  configApprovalTable,
} from "./config_approvals.ts";
import {
  CONFIG_VERSIONS_MIGRATION_SQL,
  type ConfigVersionTable,
  configVersionTable,
} from "./config_versions.ts";
import { REGISTRY_MIGRATION_SQL, type RegistryTable } from "./registry.ts";
import { registryTable } from "./_registry_table.ts";
import { TOOL_PINS_MIGRATION_SQL, ToolPins } from "./tool_pins.ts";
import { ANOMALY_STATE_MIGRATION_SQL, AnomalyState } from "./anomaly_state.ts";

/** One grant: an agent may use a secret while its config has this digest. */
export interface Grant {
  /** The agent name (`agent.name` of its config). */
  agent: string;
  /** The secret's name. */
  key: string;
  /** Hex SHA-256 of the agent's config file at grant time. */
  configDigest: string;
  /** When the grant was made: ISO-8601 UTC. */
  grantedAt: string;
}

/** The `grants` table. */
export interface GrantTable {
  /** Insert or replace the grant for `(agent, key)`; returns what was stored. */
  put(grant: Omit<Grant, "grantedAt"> & { grantedAt?: string }): Grant;
  /** The grant for `(agent, key)`, if any. */
  get(agent: string, key: string): Grant | undefined;
  /** Delete the grant for `(agent, key)`; true when one existed. */
  delete(agent: string, key: string): boolean;
  /** Every grant, ordered by agent then key; optionally only one agent's or one key's. */
  list(filter?: { agent?: string; key?: string }): Grant[];
}

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /** How long a statement waits for another process's lock (default 5000 ms). */
  busyTimeoutMs?: number;
}

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Schema changes in order. Never edit a released one: append a new version. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "grants",
    sql: `CREATE TABLE grants (
      agent TEXT NOT NULL,
      key TEXT NOT NULL,
      config_digest TEXT NOT NULL,
      granted_at TEXT NOT NULL,
      PRIMARY KEY (agent, key)
    ) STRICT, WITHOUT ROWID`,
  },
  { version: 2, name: "approvals", sql: APPROVALS_MIGRATION_SQL },
  { version: 3, name: "config_approvals", sql: CONFIG_APPROVALS_MIGRATION_SQL },
  { version: 4, name: "config_versions", sql: CONFIG_VERSIONS_MIGRATION_SQL },
  { version: 5, name: "approvals_requested_by", sql: APPROVALS_REQUESTED_BY_MIGRATION_SQL },
  { version: 6, name: "registry", sql: REGISTRY_MIGRATION_SQL },
  { version: 7, name: "tool_pins", sql: TOOL_PINS_MIGRATION_SQL },
  { version: 8, name: "anomaly_state", sql: ANOMALY_STATE_MIGRATION_SQL },
];

/** The schema version this build of LOOM writes. */
export const STORE_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * An open state database. Close it (or `using`/`await using`) when done.
 */
export class LoomStore implements Disposable, AsyncDisposable {
  /** The database file. */
  readonly path: string;
  /** The grants table. */
  readonly grants: GrantTable;
  /** Held calls waiting for a person (see `approvals.ts`). */
  readonly approvals: ApprovalTable;
  /** Approvals of generated configs, and who submitted them (see `config_approvals.ts`). */
  readonly configApprovals: ConfigApprovalTable;
  /** Signed config versions signed or accepted (see `config_versions.ts`). */
  readonly configVersions: ConfigVersionTable;
  /** The agents this home serves or served, and their tools (see `registry.ts`). */
  readonly registry: RegistryTable;
  /** Tool definitions as first seen or last approved (see `tool_pins.ts`). */
  readonly toolPins: ToolPins;
  /** Anomaly detection's first-seen times and learned tools (see `anomaly_state.ts`). */
  readonly anomalyState: AnomalyState;
  #db: DatabaseSync;

  /** Use {@linkcode openStore}. */
  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.path = path;
    this.grants = grantTable(db);
    this.approvals = approvalTable(db);
    this.configApprovals = configApprovalTable(db);
    this.configVersions = configVersionTable(db);
    this.registry = registryTable(db);
    this.toolPins = new ToolPins(db);
    this.anomalyState = new AnomalyState(db);
  }

  /** The schema version of the open database. */
  get schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  /** True until {@linkcode LoomStore.close}. */
  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  /** Close the database; later calls fail. Closing twice is a no-op. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Same as {@linkcode LoomStore.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Same as {@linkcode LoomStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Open (creating if needed) `$LOOM_HOME/loom.db` and bring its schema up to date.
 *
 * @param home the paths from `resolveHome()`; the home directory is created (0700)
 * @param options busy timeout
 * @returns the open store
 * @throws {PolicyError} when the file is group/other accessible, foreign-owned or not a regular file
 * @throws {LoomError} `UNAVAILABLE` when the database was written by a newer LOOM
 */
export async function openStore(
  home: LoomHome,
  options: OpenStoreOptions = {},
): Promise<LoomStore> {
  const busy = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busy) || busy < 0) {
    throw new RangeError("Cannot open store: busyTimeoutMs must be a non-negative integer");
  }
  await ensureHome(home);
  if (await statPrivateFile(home.db, "state database") === null) {
    // Create it 0600 before SQLite does (SQLite would use 0644 minus umask);
    // SQLite gives its -wal and -shm files the database file's mode.
    const file = await Deno.open(home.db, { write: true, create: true, mode: 0o600 });
    file.close();
    await statPrivateFile(home.db, "state database");
  }
  const db = new DatabaseSync(home.db);
  try {
    db.exec(`PRAGMA busy_timeout = ${busy}`);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db, home.db);
  } catch (error) {
    db.close();
    throw error;
  }
  return new LoomStore(db, home.db);
}

function migrate(db: DatabaseSync, path: string): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
  db.exec("BEGIN IMMEDIATE");
  try {
    const current = schemaVersion(db);
    if (current > STORE_SCHEMA_VERSION) {
      throw new LoomError(
        "UNAVAILABLE",
        `Cannot open store "${path}": schema version ${current} is newer than this LOOM ` +
          `supports (${STORE_SCHEMA_VERSION})`,
      );
    }
    const record = db.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
    );
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    }
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("SELECT max(version) AS v FROM schema_migrations").get();
  return typeof row?.v === "number" ? row.v : 0;
}

function grantTable(db: DatabaseSync): GrantTable {
  // Prepared lazily: a store opened only to migrate never pays for them.
  let put: StatementSync | undefined;
  let get: StatementSync | undefined;
  let del: StatementSync | undefined;
  return {
    put(grant) {
      checkText(grant.agent, "agent");
      checkText(grant.key, "key");
      checkText(grant.configDigest, "configDigest");
      const row: Grant = {
        agent: grant.agent,
        key: grant.key,
        configDigest: grant.configDigest,
        grantedAt: grant.grantedAt ?? new Date().toISOString(),
      };
      put ??= db.prepare(
        `INSERT INTO grants (agent, key, config_digest, granted_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (agent, key) DO UPDATE SET
           config_digest = excluded.config_digest, granted_at = excluded.granted_at`,
      );
      put.run(row.agent, row.key, row.configDigest, row.grantedAt);
      return row;
    },
    get(agent, key) {
      get ??= db.prepare(
        "SELECT agent, key, config_digest, granted_at FROM grants WHERE agent = ? AND key = ?",
      );
      const row = get.get(agent, key);
      return row === undefined ? undefined : toGrant(row);
    },
    delete(agent, key) {
      del ??= db.prepare("DELETE FROM grants WHERE agent = ? AND key = ?");
      return Number(del.run(agent, key).changes) > 0;
    },
    list(filter = {}) {
      const where: string[] = [];
      const args: string[] = [];
      if (filter.agent !== undefined) (where.push("agent = ?"), args.push(filter.agent));
      if (filter.key !== undefined) (where.push("key = ?"), args.push(filter.key));
      const sql = "SELECT agent, key, config_digest, granted_at FROM grants" +
        (where.length ? ` WHERE ${where.join(" AND ")}` : "") + " ORDER BY agent, key";
      return db.prepare(sql).all(...args).map(toGrant);
    },
  };
}

/** node:sqlite rows are null-prototype objects: copy into a plain typed one. */
function toGrant(row: Record<string, unknown>): Grant {
  return {
    agent: String(row.agent),
    key: String(row.key),
    configDigest: String(row.config_digest),
    grantedAt: String(row.granted_at),
  };
}

function checkText(value: unknown, field: string): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`Cannot store grant: ${field} must be a non-empty string`);
  }
}
