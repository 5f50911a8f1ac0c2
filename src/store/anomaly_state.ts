/**
 * The state of anomaly detection that survives a restart
 * (`src/security/anomaly/`): per agent, when this home first saw it (the
 * start of its warm-up) and the tools it has called (learned). Sliding-window
 * counts stay in memory: a restart starts them afresh.
 *
 * Writes are rare: an agent's first start, and a tool's first call. The
 * gate never writes here per call; its owner batches the tools it learned.
 * Times are integer milliseconds since the epoch. Rows hold names only.
 *
 * @example
 * ```ts
 * import { openStore, resolveHome } from "./mod.ts";
 * const root = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(resolveHome(new Map([["LOOM_HOME", root]])));
 *   store.anomalyState.firstSeen("shop", 1_000); // 1000
 *   store.anomalyState.firstSeen("shop", 9_000); // 1000: the first time stays
 *   store.anomalyState.learn("shop", ["get"], 2_000);
 *   store.anomalyState.learned("shop"); // ["get"]
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { immediate } from "./_transaction.ts";

/** Migration: the `anomaly_agents` and `anomaly_tools` tables. */
export const ANOMALY_STATE_MIGRATION_SQL = `CREATE TABLE anomaly_agents (
  agent TEXT NOT NULL PRIMARY KEY,
  first_seen INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE anomaly_tools (
  agent TEXT NOT NULL,
  tool TEXT NOT NULL,
  learned_at INTEGER NOT NULL,
  PRIMARY KEY (agent, tool)
) STRICT, WITHOUT ROWID`;

/** The anomaly tables of the state database. */
export class AnomalyState {
  readonly #db: DatabaseSync;
  #insertAgent: StatementSync | undefined;
  #selectAgent: StatementSync | undefined;
  #insertTool: StatementSync | undefined;

  /** Use `LoomStore.anomalyState`. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * When this home first saw an agent: recorded as `now` the first time.
   *
   * @param agent the agent's name
   * @param now epoch ms
   * @returns the first-seen time, epoch ms
   */
  firstSeen(agent: string, now: number): number {
    checkName(agent, "agent");
    this.#insertAgent ??= this.#db.prepare(
      "INSERT INTO anomaly_agents (agent, first_seen) VALUES (?, ?) ON CONFLICT (agent) DO NOTHING",
    );
    this.#selectAgent ??= this.#db.prepare(
      "SELECT first_seen FROM anomaly_agents WHERE agent = ?",
    );
    return immediate(this.#db, () => {
      this.#insertAgent!.run(agent, Math.floor(now));
      return Number(this.#selectAgent!.get(agent)!.first_seen);
    });
  }

  /**
   * The tools an agent has called, sorted.
   *
   * @param agent the agent's name
   */
  learned(agent: string): string[] {
    return this.#db.prepare("SELECT tool FROM anomaly_tools WHERE agent = ? ORDER BY tool")
      .all(agent).map((row) => String(row.tool));
  }

  /**
   * Learn tools (one transaction; a tool already learned keeps its time).
   *
   * @param agent the agent's name
   * @param tools the tools called for the first time
   * @param now epoch ms
   */
  learn(agent: string, tools: Iterable<string>, now: number): void {
    checkName(agent, "agent");
    const list = [...tools];
    for (const tool of list) checkName(tool, "tool");
    if (list.length === 0) return;
    this.#insertTool ??= this.#db.prepare(
      `INSERT INTO anomaly_tools (agent, tool, learned_at) VALUES (?, ?, ?)
       ON CONFLICT (agent, tool) DO NOTHING`,
    );
    immediate(this.#db, () => {
      for (const tool of list) this.#insertTool!.run(agent, tool, Math.floor(now));
    });
  }

  /**
   * Forget an agent's state (its warm-up starts again on its next start).
   *
   * @param agent the agent's name
   * @returns whether anything was stored
   */
  forget(agent: string): boolean {
    return immediate(this.#db, () => {
      const tools = this.#db.prepare("DELETE FROM anomaly_tools WHERE agent = ?").run(agent);
      const agents = this.#db.prepare("DELETE FROM anomaly_agents WHERE agent = ?").run(agent);
      return Number(tools.changes) + Number(agents.changes) > 0;
    });
  }
}

function checkName(value: string, field: string): void {
  if (typeof value !== "string" || value.length === 0 || value.length > 256) {
    throw new TypeError(`Cannot store anomaly state: ${field} must be 1-256 characters`);
  }
}
