/**
 * Approvals of generated configs: the `config_approvals` and
 * `config_submissions` tables of the state database. A config whose
 * `provenance` is `ai-generated` serves no tool until a person approved its
 * exact bytes; an approval is bound to the agent's name and the SHA-256 of
 * the config file, so one changed byte is a new digest with no approval.
 *
 * Who may approve: anyone but a submitter. The submitters of a digest are
 * the config's own `generator` (as `generator:<name>`) and every principal
 * that `loom quarantine add` recorded for those bytes (`cli:<user>`, or what
 * `--submitted-by` named). {@linkcode checkApprover} refuses an approver who
 * is one of them, so the generator (or whoever submitted its output) cannot
 * approve its own work.
 *
 * The decision is recorded by `loom quarantine approve` (`src/cli/quarantine.ts`),
 * which also writes the audit record; the served agent reads it when it is
 * built (`src/app/served_agent.ts`) and the gate enforces it
 * (`src/runtime/gate/quarantine.ts`).
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/** The migration that creates both tables (a numbered step of `db.ts`). */
export const CONFIG_APPROVALS_MIGRATION_SQL = `
  CREATE TABLE config_approvals (
    agent TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    PRIMARY KEY (agent, config_digest)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE config_submissions (
    config_digest TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    PRIMARY KEY (config_digest, submitted_by)
  ) STRICT, WITHOUT ROWID;
`;

/** A hex SHA-256. */
const DIGEST = /^[0-9a-f]{64}$/;
/** A principal: `kind:name`, one line of printable text, at most 200 characters. */
const PRINCIPAL = /^[a-z]+:[\x21-\x7e][\x20-\x7e]{0,190}$/;

/** One approval of one config's exact bytes. */
export interface ConfigApproval {
  /** The agent (`agent.name`). */
  agent: string;
  /** Hex SHA-256 of the config file's bytes. */
  configDigest: string;
  /** Who approved: `cli:<user>`. */
  approvedBy: string;
  /** When: ISO-8601 UTC. */
  approvedAt: string;
}

/** The two tables, as the store exposes them. */
export interface ConfigApprovalTable {
  /** The approval of `(agent, configDigest)`, if any. */
  get(agent: string, configDigest: string): ConfigApproval | undefined;
  /** Record an approval (replacing an earlier one of the same bytes); returns what was stored. */
  put(approval: Omit<ConfigApproval, "approvedAt"> & { approvedAt?: string }): ConfigApproval;
  /** Record that `submittedBy` submitted these bytes (idempotent). */
  addSubmission(configDigest: string, submittedBy: string): void;
  /** The principals recorded as submitters of these bytes, sorted. */
  submitters(configDigest: string): string[];
}

/** The principal of a config's generator: `generator:<name>`. */
export function generatorPrincipal(generator: string): string {
  return `generator:${generator}`;
}

/**
 * Whether `approver` may approve a config with these submitters.
 *
 * @param approver the approving principal (`cli:<user>`)
 * @param submitters every principal that submitted the bytes (see the module doc)
 * @returns null when allowed, else why not
 */
export function checkApprover(approver: string, submitters: readonly string[]): string | null {
  if (submitters.includes(approver)) {
    return `"${approver}" submitted this config: its approval must come from someone else`;
  }
  return null;
}

/** Is `text` a principal this table stores? */
export function isPrincipal(text: string): boolean {
  return PRINCIPAL.test(text);
}

/** The table accessor over an open database (used by `db.ts`). */
export function configApprovalTable(db: DatabaseSync): ConfigApprovalTable {
  let get: StatementSync | undefined;
  let put: StatementSync | undefined;
  let submit: StatementSync | undefined;
  let submitters: StatementSync | undefined;
  return {
    get(agent, configDigest) {
      get ??= db.prepare(
        `SELECT agent, config_digest, approved_by, approved_at FROM config_approvals
         WHERE agent = ? AND config_digest = ?`,
      );
      const row = get.get(agent, configDigest);
      return row === undefined ? undefined : {
        agent: String(row.agent),
        configDigest: String(row.config_digest),
        approvedBy: String(row.approved_by),
        approvedAt: String(row.approved_at),
      };
    },
    put(approval) {
      checkDigest(approval.configDigest);
      checkPrincipal(approval.approvedBy, "approvedBy");
      if (typeof approval.agent !== "string" || approval.agent === "") {
        throw new TypeError("Cannot store config approval: agent must be a non-empty string");
      }
      const row: ConfigApproval = {
        agent: approval.agent,
        configDigest: approval.configDigest,
        approvedBy: approval.approvedBy,
        approvedAt: approval.approvedAt ?? new Date().toISOString(),
      };
      put ??= db.prepare(
        `INSERT INTO config_approvals (agent, config_digest, approved_by, approved_at)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (agent, config_digest) DO UPDATE SET
           approved_by = excluded.approved_by, approved_at = excluded.approved_at`,
      );
      put.run(row.agent, row.configDigest, row.approvedBy, row.approvedAt);
      return row;
    },
    addSubmission(configDigest, submittedBy) {
      checkDigest(configDigest);
      checkPrincipal(submittedBy, "submittedBy");
      submit ??= db.prepare(
        `INSERT INTO config_submissions (config_digest, submitted_by, submitted_at)
         VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
      );
      submit.run(configDigest, submittedBy, new Date().toISOString());
    },
    submitters(configDigest) {
      submitters ??= db.prepare(
        `SELECT submitted_by FROM config_submissions WHERE config_digest = ?
         ORDER BY submitted_by`,
      );
      return submitters.all(configDigest).map((row) => String(row.submitted_by));
    },
  };
}

function checkDigest(digest: unknown): void {
  if (typeof digest !== "string" || !DIGEST.test(digest)) {
    throw new TypeError("Cannot store config approval: configDigest must be 64 hex digits");
  }
}

function checkPrincipal(principal: unknown, field: string): void {
  if (typeof principal !== "string" || !PRINCIPAL.test(principal)) {
    throw new TypeError(
      `Cannot store config approval: ${field} must be "kind:name" of printable characters`,
    );
  }
}
