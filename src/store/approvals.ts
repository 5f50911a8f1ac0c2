/**
 * The `approvals` table of the state database: held tool calls waiting for a
 * person. An approval is bound to one exact call: the agent, the tool, the
 * SHA-256 of the call's canonical arguments and the digest of the agent's
 * config. It is single-use and expiring, and each agent has a bounded number
 * pending.
 *
 * States: `pending` (waiting for a reviewer) → `approved` | `denied`;
 * `approved` → `consumed` (the call ran once); `pending` or `approved` →
 * `expired` (its time passed) | `void` (the agent's config changed).
 * A decision restarts the clock: an approved call may run within one more
 * time-to-live, and a denied binding answers "denied" for as long.
 *
 * Every change that must not race is one SQL statement (a consume is one
 * `UPDATE … RETURNING`) or one `BEGIN IMMEDIATE` transaction, so two
 * processes (a server and the CLI, or two servers) sharing the database
 * cannot both run one approval, nor both fill the last place in the queue.
 * Times are integer milliseconds since the epoch, from a clock the caller
 * passes (tests inject one).
 *
 * Each approval records `requested_by`, the principal of the call that
 * opened it (`src/runtime/gate/principal.ts`), and each decision
 * `decided_by`, typed by its channel (`cli:<user>`, `inline:<principal>`,
 * `dashboard:<principal>`). A decision by the identity that asked
 * ({@linkcode approverIdentity}) is refused and the approval stays pending.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { immediate } from "./_transaction.ts";

/** Where an approval is in its life. */
export type ApprovalStatus = "pending" | "approved" | "denied" | "consumed" | "expired" | "void";

/** What an approval is bound to: exactly one call of one agent's config. */
export interface ApprovalBinding {
  /** The agent (`agent.name`). */
  agent: string;
  /** The tool name. */
  tool: string;
  /** Hex SHA-256 of the canonical JSON of the validated arguments. */
  argsSha256: string;
  /** Hex SHA-256 of the agent's config file. */
  configDigest: string;
}

/** One approval, as stored. */
export interface Approval extends ApprovalBinding {
  /** 16 lower-case hex characters. */
  id: string;
  status: ApprovalStatus;
  /** The escalation rule that held the call. */
  rule: string;
  /** The rule's reason, shown to the reviewer. */
  reason: string;
  /** The canonical JSON of the arguments, shown to the reviewer. */
  argsJson: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** When it stops counting (pending or approved), or when a denial stops blocking. */
  expiresAt: number;
  /** When it was approved, denied, voided or expired. */
  decidedAt: number | null;
  /** Who asked: the principal of the call that opened it (see the module doc). */
  requestedBy: string;
  /** Who decided: `cli:<user>`, `inline:<principal>` or `dashboard:<principal>`. */
  decidedBy: string | null;
  /** The reviewer's reason, when given. */
  decisionReason: string | null;
  /** When the call it allowed ran. */
  consumedAt: number | null;
}

/** What a held call needs to open (or find) its approval. */
export interface ApprovalRequest extends ApprovalBinding {
  /** The principal of the call (kept only when it opens a new approval). */
  requestedBy: string;
  rule: string;
  reason: string;
  argsJson: string;
}

/** Limits and clock of {@linkcode ApprovalTable.request}. */
export interface ApprovalLimits {
  /** Milliseconds since the epoch. */
  now: number;
  /** How long a pending (and then an approved) approval lives. */
  ttlMs: number;
  /** Most pending approvals one agent may have. */
  maxPending: number;
}

/** What {@linkcode ApprovalTable.request} found or did. */
export type ApprovalRequestResult =
  | { kind: "pending" | "approved" | "denied"; approval: Approval }
  /** `previous`: the binding's latest earlier approval (expired, consumed...), if any. */
  | { kind: "created"; approval: Approval; previous: Approval | null }
  | { kind: "queue_full"; pending: number };

/** Approvals that changed state on the side (to be audited by the caller). */
export interface ApprovalSweep {
  /** Pending or approved approvals whose time passed. */
  expired: Approval[];
  /** Pending or approved approvals of the agent bound to another config digest. */
  voided: Approval[];
}

/** What {@linkcode ApprovalTable.decide} did. */
export type ApprovalDecision =
  | { kind: "decided"; approval: Approval }
  | { kind: "not_found" }
  /** It expired before the decision (and is now recorded as expired). */
  | { kind: "expired"; approval: Approval }
  /** It was already approved, denied, consumed or void. */
  | { kind: "not_pending"; approval: Approval }
  /**
   * The approving identity is the one that asked: refused, nothing changed
   * (the approval is still pending). `identity` is the compared identity.
   */
  | { kind: "same_principal"; approval: Approval; identity: string };

/** The `approvals` table. */
export interface ApprovalTable {
  /**
   * In one transaction: expire what is due, void the agent's approvals bound
   * to another config digest, then find the live approval of this binding
   * (pending, approved, or a denial still in force) or create a pending one,
   * unless the agent already has `maxPending` pending.
   */
  request(request: ApprovalRequest, limits: ApprovalLimits): ApprovalRequestResult & ApprovalSweep;
  /**
   * Use the approved approval of this binding, once: one statement moves it
   * to `consumed`, so of two concurrent callers at most one gets it.
   *
   * @returns the consumed approval, or null when none is approved and live
   */
  consume(binding: ApprovalBinding, now: number): Approval | null;
  /**
   * Approve or deny a pending approval; an approval restarts its
   * time-to-live. `actor` becomes `decided_by`; a decision by the identity
   * that asked is refused (`same_principal`), see {@linkcode approverIdentity}.
   */
  decide(
    id: string,
    decision: { approve: boolean; actor: string; reason?: string; now: number },
  ): ApprovalDecision;
  /** One approval by id. */
  get(id: string): Approval | undefined;
  /** Approvals, newest first; optionally one agent's, optionally only some states. */
  list(filter?: { agent?: string; status?: readonly ApprovalStatus[] }): Approval[];
  /** Mark every pending or approved approval whose time passed as expired. */
  expireDue(now: number): Approval[];
}

/** The migration that creates the table (see `db.ts`). */
export const APPROVALS_MIGRATION_SQL = `CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  tool TEXT NOT NULL,
  args_sha256 TEXT NOT NULL,
  config_digest TEXT NOT NULL,
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  args_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN
    ('pending', 'approved', 'denied', 'consumed', 'expired', 'void')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  decided_at INTEGER,
  decided_by TEXT,
  decision_reason TEXT,
  consumed_at INTEGER
) STRICT;
CREATE INDEX approvals_binding ON approvals (agent, tool, args_sha256, config_digest, status);
CREATE INDEX approvals_status ON approvals (status, agent)`;

/** Who asked for each approval (a later schema version); older rows read `unknown`. */
export const APPROVALS_REQUESTED_BY_MIGRATION_SQL =
  "ALTER TABLE approvals ADD COLUMN requested_by TEXT NOT NULL DEFAULT 'unknown'";

/** The requester recorded when the caller is not known (a gate driven directly). */
export const UNKNOWN_PRINCIPAL = "unknown";

/** Channels whose decisions name a principal after the prefix: their identity is it. */
const PRINCIPAL_CHANNELS = ["dashboard"];

/**
 * The identity a decision is made by, to compare with `requested_by`:
 * `dashboard:<principal>` is the principal (so `oauth:X#alice` may not approve
 * what `oauth:X#alice` asked for); `cli:<user>` is itself; `inline:` is null,
 * not compared: the answer came from the person at the requesting client's UI
 * (a trust decision, see `docs/security-controls.md`; off with
 * `runtime.inline_approval: false`).
 *
 * @param decidedBy the decision's typed principal
 */
export function approverIdentity(decidedBy: string): string | null {
  const colon = decidedBy.indexOf(":");
  const channel = colon === -1 ? "" : decidedBy.slice(0, colon);
  if (channel === "inline") return null;
  if (PRINCIPAL_CHANNELS.includes(channel)) return decidedBy.slice(colon + 1);
  return decidedBy;
}

/** An approval id: 16 lower-case hex characters. */
export const APPROVAL_ID = /^[0-9a-f]{16}$/;

const COLUMNS = "id, agent, tool, args_sha256, config_digest, rule, reason, args_json, status, " +
  "created_at, expires_at, decided_at, decided_by, decision_reason, consumed_at, requested_by";
const BINDING = "agent = ? AND tool = ? AND args_sha256 = ? AND config_digest = ?";

/**
 * The table over an open database (used by `LoomStore`).
 *
 * @param db the open state database, migrated
 * @returns the table's operations
 */
export function approvalTable(db: DatabaseSync): ApprovalTable {
  const statements = new Map<string, StatementSync>();
  const sql = (text: string): StatementSync => {
    let statement = statements.get(text);
    if (statement === undefined) statements.set(text, statement = db.prepare(text));
    return statement;
  };
  const bind = (b: ApprovalBinding) => [b.agent, b.tool, b.argsSha256, b.configDigest];
  const expireDue = (now: number): Approval[] =>
    sql(
      `UPDATE approvals SET status = 'expired', decided_at = ?
       WHERE status IN ('pending', 'approved') AND expires_at <= ? RETURNING ${COLUMNS}`,
    ).all(now, now).map(toApproval);
  const get = (id: string): Approval | undefined => {
    const row = sql(`SELECT ${COLUMNS} FROM approvals WHERE id = ?`).get(id);
    return row === undefined ? undefined : toApproval(row);
  };

  return {
    request(request, limits) {
      checkBinding(request);
      return immediate(db, () => {
        const { now } = limits;
        const expired = expireDue(now);
        const voided = sql(
          `UPDATE approvals SET status = 'void', decided_at = ?
           WHERE agent = ? AND config_digest <> ? AND status IN ('pending', 'approved')
           RETURNING ${COLUMNS}`,
        ).all(now, request.agent, request.configDigest).map(toApproval);
        const sweep = { expired, voided };
        const live = sql(
          `SELECT ${COLUMNS} FROM approvals WHERE ${BINDING}
           AND (status IN ('pending', 'approved') OR (status = 'denied' AND expires_at > ?))
           ORDER BY created_at DESC LIMIT 1`,
        ).get(...bind(request), now);
        if (live !== undefined) {
          const approval = toApproval(live);
          const kind = approval.status as "pending" | "approved" | "denied";
          return { kind, approval, ...sweep };
        }
        const counted = sql(
          "SELECT count(*) AS n FROM approvals WHERE agent = ? AND status = 'pending'",
        ).get(request.agent);
        const pending = Number(counted?.n ?? 0);
        if (pending >= limits.maxPending) return { kind: "queue_full", pending, ...sweep };
        const before = sql(
          `SELECT ${COLUMNS} FROM approvals WHERE ${BINDING} ORDER BY created_at DESC LIMIT 1`,
        ).get(...bind(request));
        const previous = before === undefined ? null : toApproval(before);
        const id = newId();
        sql(
          `INSERT INTO approvals (${COLUMNS})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL, NULL, NULL, NULL, ?)`,
        ).run(
          id,
          ...bind(request),
          request.rule,
          request.reason,
          request.argsJson,
          now,
          now + limits.ttlMs,
          request.requestedBy,
        );
        return { kind: "created", approval: get(id)!, previous, ...sweep };
      });
    },
    consume(binding, now) {
      // One statement: SQLite runs writes one at a time, across processes too.
      const row = sql(
        `UPDATE approvals SET status = 'consumed', consumed_at = ?
         WHERE id = (SELECT id FROM approvals WHERE ${BINDING}
                     AND status = 'approved' AND expires_at > ?
                     ORDER BY decided_at LIMIT 1)
         AND status = 'approved' RETURNING ${COLUMNS}`,
      ).get(now, ...bind(binding), now);
      return row === undefined ? null : toApproval(row);
    },
    decide(id, decision) {
      if (!APPROVAL_ID.test(id)) return { kind: "not_found" };
      if (typeof decision.actor !== "string" || decision.actor === "") {
        throw new TypeError("Cannot decide approval: actor must be a non-empty string");
      }
      return immediate(db, (): ApprovalDecision => {
        const current = get(id);
        if (current === undefined) return { kind: "not_found" };
        if (current.status === "pending" && current.expiresAt <= decision.now) {
          const [expired] = sql(
            `UPDATE approvals SET status = 'expired', decided_at = ? WHERE id = ?
             RETURNING ${COLUMNS}`,
          ).all(decision.now, id).map(toApproval);
          return { kind: "expired", approval: expired };
        }
        if (current.status !== "pending") return { kind: "not_pending", approval: current };
        const identity = approverIdentity(decision.actor);
        if (identity !== null && identity === current.requestedBy) {
          return { kind: "same_principal", approval: current, identity };
        }
        const ttl = current.expiresAt - current.createdAt;
        const row = sql(
          `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ?,
             expires_at = ?
           WHERE id = ? AND status = 'pending' RETURNING ${COLUMNS}`,
        ).get(
          decision.approve ? "approved" : "denied",
          decision.now,
          decision.actor,
          decision.reason ?? null,
          decision.now + ttl,
          id,
        );
        return { kind: "decided", approval: toApproval(row!) };
      });
    },
    get,
    list(filter = {}) {
      const where: string[] = [];
      const args: string[] = [];
      if (filter.agent !== undefined) (where.push("agent = ?"), args.push(filter.agent));
      if (filter.status !== undefined && filter.status.length > 0) {
        where.push(`status IN (${filter.status.map(() => "?").join(", ")})`);
        args.push(...filter.status);
      }
      const text = `SELECT ${COLUMNS} FROM approvals` +
        (where.length ? ` WHERE ${where.join(" AND ")}` : "") + " ORDER BY created_at DESC, id";
      return db.prepare(text).all(...args).map(toApproval);
    },
    expireDue(now) {
      return expireDue(now);
    },
  };
}

function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function checkBinding(binding: ApprovalRequest): void {
  for (const field of ["agent", "tool", "argsSha256", "configDigest", "requestedBy"] as const) {
    const value = binding[field];
    if (typeof value !== "string" || value.length === 0) {
      throw new TypeError(`Cannot store approval: ${field} must be a non-empty string`);
    }
  }
}

/** node:sqlite rows are null-prototype objects: copy into a plain typed one. */
function toApproval(row: Record<string, unknown>): Approval {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(row.id),
    agent: String(row.agent),
    tool: String(row.tool),
    argsSha256: String(row.args_sha256),
    configDigest: String(row.config_digest),
    rule: String(row.rule),
    reason: String(row.reason),
    argsJson: String(row.args_json),
    status: String(row.status) as ApprovalStatus,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    decidedAt: num(row.decided_at),
    requestedBy: String(row.requested_by),
    decidedBy: text(row.decided_by),
    decisionReason: text(row.decision_reason),
    consumedAt: num(row.consumed_at),
  };
}
