/**
 * The SQL of the agent registry (`registry.ts` describes the tables and
 * what they hold): one registration is one `BEGIN IMMEDIATE` transaction
 * that upserts the agent and replaces its tools; status and last-seen
 * updates are single statements bound to the registering process.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import {
  AGENT_STATUSES,
  type AgentRegistration,
  type AgentStatus,
  type ParamSummary,
  type RegisteredAgent,
  type RegisteredTool,
  type RegistryTable,
} from "./registry.ts";
import { immediate } from "./_transaction.ts";

const AGENT_COLUMNS = `a.name, a.version, a.declared_version, a.description, a.config_path,
  a.config_digest, a.tier, a.sandbox, a.signature, a.signature_failure, a.status, a.transport,
  a.pid, a.pid_start, a.registered_at, a.status_at, a.last_seen,
  (SELECT count(*) FROM agent_tools t WHERE t.agent = a.name) AS tool_count`;

/** The registry over an open database (statements prepared on use). */
export function registryTable(db: DatabaseSync): RegistryTable {
  /** Upsert one agent and replace its tools (inside the caller's transaction). */
  const writeOne = (r: AgentRegistration, now: string): void => {
    db.prepare(
      `INSERT INTO agents (name, version, declared_version, description, config_path,
         config_digest, tier, sandbox, signature, signature_failure, status, transport, pid,
         pid_start, registered_at, status_at, last_seen)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET
         version = excluded.version, declared_version = excluded.declared_version,
         description = excluded.description, config_path = excluded.config_path,
         config_digest = excluded.config_digest, tier = excluded.tier,
         sandbox = excluded.sandbox, signature = excluded.signature,
         signature_failure = excluded.signature_failure, status = excluded.status,
         transport = excluded.transport, pid = excluded.pid, pid_start = excluded.pid_start,
         registered_at = excluded.registered_at, status_at = excluded.status_at,
         last_seen = excluded.last_seen`,
    ).run(
      r.name,
      r.version,
      r.declaredVersion,
      r.description,
      r.configPath,
      r.configDigest,
      r.tier,
      r.sandbox,
      r.signature,
      r.signatureFailure,
      r.status,
      r.transport,
      r.pid,
      r.pidStart,
      now,
      now,
      now,
    );
    db.prepare("DELETE FROM agent_tools WHERE agent = ?").run(r.name);
    const insert = db.prepare(
      `INSERT INTO agent_tools (agent, position, name, title, description, access, method,
         origin, parameters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    r.tools.forEach((t, i) => {
      insert.run(
        r.name,
        i,
        t.name,
        t.title,
        t.description,
        t.access,
        t.method,
        t.origin,
        JSON.stringify(t.parameters),
      );
    });
  };
  const registerAll = (registrations: readonly AgentRegistration[], at: Date): void => {
    for (const r of registrations) checkRegistration(r);
    const now = at.toISOString();
    immediate(db, () => {
      for (const r of registrations) writeOne(r, now);
    });
  };
  return {
    register: (r, at) => registerAll([r], at),
    registerAll,
    mark(name, status, pid, at) {
      checkStatus(status);
      const now = at.toISOString();
      const done = db.prepare(
        `UPDATE agents SET status = ?, status_at = ?, last_seen = ?
         WHERE name = ? AND pid IS ?`,
      ).run(status, now, now, name, pid);
      return Number(done.changes) > 0;
    },
    touch(name, pid, at) {
      const done = db.prepare("UPDATE agents SET last_seen = ? WHERE name = ? AND pid IS ?")
        .run(at.toISOString(), name, pid);
      return Number(done.changes) > 0;
    },
    list() {
      return db.prepare(`SELECT ${AGENT_COLUMNS} FROM agents a ORDER BY a.name`).all()
        .map(toAgent);
    },
    get(name) {
      const row = db.prepare(`SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.name = ?`).get(name);
      return row === undefined ? undefined : toAgent(row);
    },
    tools(name) {
      return db.prepare(
        `SELECT name, title, description, access, method, origin, parameters
         FROM agent_tools WHERE agent = ? ORDER BY position`,
      ).all(name).map(toTool);
    },
  };
}

/** node:sqlite rows are null-prototype objects: copy into plain typed ones. */
function toAgent(row: Record<string, unknown>): RegisteredAgent {
  return {
    name: String(row.name),
    version: row.version === null ? null : Number(row.version),
    declaredVersion: String(row.declared_version),
    description: String(row.description),
    configPath: String(row.config_path),
    configDigest: String(row.config_digest),
    tier: Number(row.tier),
    sandbox: String(row.sandbox),
    signature: String(row.signature) as RegisteredAgent["signature"],
    signatureFailure: row.signature_failure === null ? null : String(row.signature_failure),
    status: String(row.status) as AgentStatus,
    transport: String(row.transport),
    pid: row.pid === null ? null : Number(row.pid),
    pidStart: row.pid_start === null ? null : String(row.pid_start),
    registeredAt: String(row.registered_at),
    statusAt: String(row.status_at),
    lastSeen: String(row.last_seen),
    toolCount: Number(row.tool_count),
  };
}

function toTool(row: Record<string, unknown>): RegisteredTool {
  let parameters: ParamSummary[] = [];
  try {
    const parsed = JSON.parse(String(row.parameters));
    if (Array.isArray(parsed)) parameters = parsed;
  } catch { /* a damaged row lists no parameters */ }
  return {
    name: String(row.name),
    title: row.title === null ? null : String(row.title),
    description: String(row.description),
    access: String(row.access),
    method: row.method === null ? null : String(row.method),
    origin: row.origin === null ? null : String(row.origin),
    parameters,
  };
}

function checkStatus(status: string): void {
  if (!(AGENT_STATUSES as readonly string[]).includes(status)) {
    throw new TypeError(
      `Cannot register agent: status must be one of ${AGENT_STATUSES.join(", ")}`,
    );
  }
}

function checkRegistration(r: AgentRegistration): void {
  if (typeof r.name !== "string" || r.name.length === 0) {
    throw new TypeError("Cannot register agent: name must be a non-empty string");
  }
  if (!/^[0-9a-f]{64}$/.test(r.configDigest)) {
    throw new TypeError("Cannot register agent: configDigest must be 64 hex digits");
  }
  if (r.pid !== null && (!Number.isSafeInteger(r.pid) || r.pid <= 0)) {
    throw new TypeError("Cannot register agent: pid must be a positive integer or null");
  }
  checkStatus(r.status);
}
