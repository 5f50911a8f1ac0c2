/**
 * The `tool_pins` table of the state database: the definition of each tool
 * as it was first seen or last approved, per agent (the defence against a
 * "rug pull": a tool that changes what it says it does after a client
 * trusted it). See `docs/security-controls.md`, tool-definition pinning.
 *
 * One row per `(agent, tool)`: the pinned definition (its digest, canonical
 * JSON, when and by whom it was pinned) and, while the tool's current
 * definition differs from the pin, the pending one (digest, JSON, when that
 * version was first seen). {@linkcode ToolPins.check} pins a tool it has
 * never seen (trust on first use, `pinned_by` `first-use`), answers `match`
 * or `changed` for the others, and keeps the pin itself unchanged: only
 * {@linkcode ToolPins.approve}, a person's decision, moves a pending
 * definition into the pin. A definition that changes back to the pinned one
 * clears what was pending.
 *
 * Every read-then-write is one `BEGIN IMMEDIATE` transaction, so two
 * processes sharing the database (two servers, or a server and `loom pin
 * approve`) cannot both pin a new tool, nor approve over each other. Times are
 * integer milliseconds since the epoch.
 *
 * @example
 * ```ts
 * import { openStore, resolveHome } from "./mod.ts";
 * const root = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(resolveHome(new Map([["LOOM_HOME", root]])));
 *   const v1 = { name: "get", description: "Read", inputSchema: {}, upstream: null };
 *   store.toolPins.check("shop", [{ name: "get", definition: v1 }]).get("get"); // { state: "new", ... }
 *   const v2 = { ...v1, description: "Read and mail it elsewhere" };
 *   store.toolPins.check("shop", [{ name: "get", definition: v2 }]).get("get"); // { state: "changed", ... }
 *   store.toolPins.approve("shop", "get", "cli:alice"); // { from: "sha256:...", to: "sha256:..." }
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { NotFoundError, PolicyError } from "../errors.ts";
import { canonicalJson } from "../_util/canonical_json.ts";
import { immediate } from "./_transaction.ts";
import { changedFields, definitionDigest, type ToolDefinition } from "./tool_definition.ts";

/** Migration: the `tool_pins` table. */
export const TOOL_PINS_MIGRATION_SQL = `CREATE TABLE tool_pins (
  agent TEXT NOT NULL,
  tool TEXT NOT NULL,
  pinned_digest TEXT NOT NULL,
  pinned_json TEXT NOT NULL,
  pinned_at INTEGER NOT NULL,
  pinned_by TEXT NOT NULL,
  pending_digest TEXT,
  pending_json TEXT,
  pending_since INTEGER,
  CHECK ((pending_digest IS NULL) = (pending_json IS NULL)
    AND (pending_digest IS NULL) = (pending_since IS NULL)),
  PRIMARY KEY (agent, tool)
) STRICT, WITHOUT ROWID`;

/** Who pinned a tool the first time it was seen. */
export const FIRST_USE = "first-use";

/** What {@linkcode ToolPins.check} found for one tool. */
export type PinVerdict =
  /** Never seen: pinned now (trust on first use). */
  | { state: "new"; digest: string }
  /** The same as its pin. */
  | { state: "match"; digest: string }
  /** Differs from its pin: recorded as pending, the pin unchanged. */
  | {
    state: "changed";
    /** The current definition's digest. */
    digest: string;
    /** The top-level fields that differ (`changedFields()`), sorted. */
    changed: string[];
    pinnedDigest: string;
    pinned: ToolDefinition;
  };

/** A definition waiting for approval. */
export interface PendingDefinition {
  digest: string;
  definition: ToolDefinition;
  /** When this version was first seen (milliseconds since the epoch). */
  since: number;
}

/** One pinned tool, as stored. */
export interface PinRow {
  agent: string;
  tool: string;
  pinnedDigest: string;
  pinned: ToolDefinition;
  /** Milliseconds since the epoch. */
  pinnedAt: number;
  /** `first-use`, or the person who approved it: `cli:<user>`. */
  pinnedBy: string;
  /** The changed definition seen since, waiting for approval; null when none. */
  pending: PendingDefinition | null;
}

/** Options of {@linkcode ToolPins.approve}. */
export interface ApproveOptions {
  /**
   * The pending digest the approver reviewed: when the pending definition is
   * another one by now, nothing changes and a `PolicyError` is thrown.
   */
  expect?: string;
  /** Milliseconds since the epoch (default `Date.now()`). */
  now?: number;
}

const COLUMNS = "agent, tool, pinned_digest, pinned_json, pinned_at, pinned_by, " +
  "pending_digest, pending_json, pending_since";

/** The `tool_pins` table over an open state database (see `LoomStore.toolPins`). */
export class ToolPins {
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  /** @param db the open state database, migrated */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Compare an agent's tools with their pins, in one transaction: a tool
   * never seen is pinned (`new`, by `first-use`); one equal to its pin is a
   * `match` (and whatever was pending is cleared); one that differs is
   * `changed`, and its definition becomes the pending one (its first-seen
   * time kept while it stays the same). Tools of the agent not in `tools`
   * are left as they are.
   *
   * @param agent the agent's name
   * @param tools each tool's name and current definition
   * @param now milliseconds since the epoch (default `Date.now()`)
   * @returns the verdict of each tool, by name
   * @throws {TypeError} on an empty agent or tool name, a tool named twice, or a definition that is not JSON
   */
  check(
    agent: string,
    tools: readonly { name: string; definition: ToolDefinition }[],
    now: number = Date.now(),
  ): Map<string, PinVerdict> {
    checkName(agent, "agent");
    const seen = new Set<string>();
    const current = tools.map(({ name, definition }) => {
      checkName(name, "tool");
      if (seen.has(name)) throw new TypeError(`Cannot check pins: tool "${name}" is named twice`);
      seen.add(name);
      return { name, definition, digest: definitionDigest(definition) };
    });
    const verdicts = new Map<string, PinVerdict>();
    immediate(this.#db, () => {
      for (const { name, definition, digest } of current) {
        const row = this.#sql(
          "SELECT pinned_digest, pinned_json, pending_digest FROM tool_pins " +
            "WHERE agent = ? AND tool = ?",
        ).get(agent, name);
        if (row === undefined) {
          this.#sql(
            `INSERT INTO tool_pins (agent, tool, pinned_digest, pinned_json, pinned_at, pinned_by)
             VALUES (?, ?, ?, ?, ?, ?)`,
          ).run(agent, name, digest, canonicalJson(definition), now, FIRST_USE);
          verdicts.set(name, { state: "new", digest });
          continue;
        }
        const pinnedDigest = String(row.pinned_digest);
        if (pinnedDigest === digest) {
          if (row.pending_digest !== null) this.#clearPending(agent, name);
          verdicts.set(name, { state: "match", digest });
          continue;
        }
        if (row.pending_digest !== digest) {
          this.#sql(
            `UPDATE tool_pins SET pending_digest = ?, pending_json = ?, pending_since = ?
             WHERE agent = ? AND tool = ?`,
          ).run(digest, canonicalJson(definition), now, agent, name);
        }
        const pinned = parseDefinition(row.pinned_json);
        verdicts.set(name, {
          state: "changed",
          digest,
          changed: changedFields(pinned, definition),
          pinnedDigest,
          pinned,
        });
      }
    });
    return verdicts;
  }

  /**
   * The pinned digest of one tool: one indexed read, cheap enough to poll.
   *
   * @returns `sha256:<hex>`, or undefined when the tool was never pinned
   */
  pinnedDigest(agent: string, tool: string): string | undefined {
    const row = this.#sql("SELECT pinned_digest FROM tool_pins WHERE agent = ? AND tool = ?")
      .get(agent, tool);
    return row === undefined ? undefined : String(row.pinned_digest);
  }

  /**
   * A person approves a tool's pending definition: it becomes the pin
   * (`pinned_by` = `by`), and nothing is pending any more.
   *
   * @param agent the agent's name
   * @param tool the tool's name
   * @param by who approves: `cli:<user>`
   * @param options the reviewed digest; the clock
   * @returns the digest pinned before and the one pinned now
   * @throws {NotFoundError} when the tool was never pinned or nothing is pending
   * @throws {PolicyError} when `options.expect` is not the pending digest
   */
  approve(
    agent: string,
    tool: string,
    by: string,
    options: ApproveOptions = {},
  ): { from: string; to: string } {
    checkName(agent, "agent");
    checkName(tool, "tool");
    checkName(by, "approver");
    const now = options.now ?? Date.now();
    return immediate(this.#db, () => {
      const row = this.#sql(
        "SELECT pinned_digest, pending_digest FROM tool_pins WHERE agent = ? AND tool = ?",
      ).get(agent, tool);
      if (row === undefined) {
        throw new NotFoundError(`No pinned tool "${tool}" of agent "${agent}"`);
      }
      if (row.pending_digest === null) {
        throw new NotFoundError(
          `Nothing pending for tool "${tool}" of agent "${agent}": its definition has not ` +
            "changed since it was pinned",
        );
      }
      const from = String(row.pinned_digest);
      const to = String(row.pending_digest);
      if (options.expect !== undefined && options.expect !== to) {
        throw new PolicyError(
          `The pending definition of tool "${tool}" of agent "${agent}" is ${to}, not the ` +
            `reviewed ${options.expect}: it changed again; review it and approve again`,
        );
      }
      this.#sql(
        `UPDATE tool_pins SET pinned_digest = pending_digest, pinned_json = pending_json,
           pinned_at = ?, pinned_by = ?, pending_digest = NULL, pending_json = NULL,
           pending_since = NULL
         WHERE agent = ? AND tool = ?`,
      ).run(now, by, agent, tool);
      return { from, to };
    });
  }

  /** Every pinned tool, ordered by agent then tool; optionally one agent's. */
  list(filter: { agent?: string } = {}): PinRow[] {
    const rows = filter.agent === undefined
      ? this.#sql(`SELECT ${COLUMNS} FROM tool_pins ORDER BY agent, tool`).all()
      : this.#sql(`SELECT ${COLUMNS} FROM tool_pins WHERE agent = ? ORDER BY tool`)
        .all(filter.agent);
    return rows.map(toPinRow);
  }

  /** One pinned tool, with its pinned and pending definitions. */
  get(agent: string, tool: string): PinRow | undefined {
    const row = this.#sql(`SELECT ${COLUMNS} FROM tool_pins WHERE agent = ? AND tool = ?`)
      .get(agent, tool);
    return row === undefined ? undefined : toPinRow(row);
  }

  /**
   * Forget one tool's pin, or all of an agent's: the next check pins what it
   * sees as new. For an agent or tool that no longer exists.
   *
   * @returns how many pins were removed
   */
  remove(agent: string, tool?: string): number {
    const result = tool === undefined
      ? this.#sql("DELETE FROM tool_pins WHERE agent = ?").run(agent)
      : this.#sql("DELETE FROM tool_pins WHERE agent = ? AND tool = ?").run(agent, tool);
    return Number(result.changes);
  }

  #clearPending(agent: string, tool: string): void {
    this.#sql(
      `UPDATE tool_pins SET pending_digest = NULL, pending_json = NULL, pending_since = NULL
       WHERE agent = ? AND tool = ?`,
    ).run(agent, tool);
  }

  #sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (statement === undefined) this.#statements.set(text, statement = this.#db.prepare(text));
    return statement;
  }
}

function checkName(value: unknown, field: string): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`Cannot use tool pins: ${field} must be a non-empty string`);
  }
}

function parseDefinition(json: unknown): ToolDefinition {
  return JSON.parse(String(json)) as ToolDefinition;
}

/** node:sqlite rows are null-prototype objects: copy into a plain typed one. */
function toPinRow(row: Record<string, unknown>): PinRow {
  return {
    agent: String(row.agent),
    tool: String(row.tool),
    pinnedDigest: String(row.pinned_digest),
    pinned: parseDefinition(row.pinned_json),
    pinnedAt: Number(row.pinned_at),
    pinnedBy: String(row.pinned_by),
    pending: row.pending_digest === null ? null : {
      digest: String(row.pending_digest),
      definition: parseDefinition(row.pending_json),
      since: Number(row.pending_since),
    },
  };
}
