/**
 * Bounded refusal records. A refused call (an unknown tool, invalid
 * arguments, an injection finding, a tier violation, a rate-limit denial)
 * costs a client almost nothing, and before this module each one wrote its own
 * fsynced record: one client sending refused calls in a loop could write
 * hundreds of MB a minute and fill the disk for every agent on the host. Here
 * refusals get their own record only within a budget; the rest are counted and
 * written as summary records (`refusal_summary`) when their window closes.
 *
 * The budget, per window of `windowMs` (default 10 s, windows aligned on the
 * clock):
 * - at most `perKey` (5) own records per client, tool and kind of refusal;
 * - at most `perWindow` (100) own records across all clients, so many
 *   clients (or many tools) cannot flood either;
 * - every refusal past the budget is counted for its client, tool and kind.
 *   At most `maxClients` (256) clients keep their own counts in a window, the
 *   rest are counted together under the client `"*"`; at most 32 tools per
 *   client keep their own counts, the rest under the tool `"*"`. Memory is
 *   bounded by these numbers, not by the traffic.
 *
 * So a window adds at most `perWindow` own records plus one summary record per
 * 32 clients counted (at most `ceil((maxClients + 1) / 32)`), whatever the
 * number of refusals; one client alone adds at most `perKey` records per tool
 * and kind plus one summary. A summary never hides a client behind another:
 * each of the first `maxClients` clients of a window has its own counts.
 *
 * A summary is written when the window has ended: by the next refusal after
 * it, by one timer per window (armed only when something was counted; never a
 * timer per call; unreferenced, so it does not keep a process alive), or by
 * {@linkcode RefusalCoalescer.flush} / {@linkcode RefusalCoalescer.close},
 * which end the current window early, so nothing is lost on a clean shutdown.
 * A summary that cannot be written is kept and merged into the next one
 * (`window_start` then reaches back to the first window it covers). A crash
 * loses the counts of the current window: refusals are not executed calls,
 * and their own records, not their counts, are what stays durable.
 *
 * Clients are named by the caller: the gate uses a label of the MCP session
 * (HTTP) or `"stdio"`. Executed calls never pass through here: each keeps its
 * own intent and outcome records.
 *
 * @module
 */

import { isoTimestamp } from "./_format.ts";
import type { AuditLog } from "./log.ts";

/** Why a call was refused before it ran. */
export type RefusalKind =
  | "unknown_tool"
  | "invalid"
  | "injection"
  | "tier"
  | "rate_limit"
  | "quarantined"
  | "tool_changed";

/** One refused call, as far as the budget is concerned. */
export interface Refusal {
  /** The client key (an MCP session label, or `"stdio"`). */
  client: string;
  /** The tool called, or null for an unknown tool. */
  tool: string | null;
  /** Why it was refused. */
  kind: RefusalKind;
}

/** Options of {@linkcode RefusalCoalescer}. */
export interface RefusalOptions {
  /** Window length in ms. Default 10,000. */
  windowMs?: number;
  /** Own records per client, tool and kind in a window. Default 5. */
  perKey?: number;
  /** Own records across all clients in a window. Default 100. */
  perWindow?: number;
  /** Clients with their own counts in a window; the rest share `"*"`. Default 256. */
  maxClients?: number;
  /** The clock (epoch ms); a seam for tests. Default `Date.now`. */
  now?: () => number;
}

/** Counters of a {@linkcode RefusalCoalescer}. */
export interface RefusalStats {
  /** Refusals given their own record. */
  admitted: number;
  /** Refusals counted for a summary instead. */
  counted: number;
  /** Summary records written. */
  summaries: number;
}

/** The tool key of an unknown tool in a summary's counts. */
export const UNKNOWN_TOOL_KEY = "(unknown)";
/** The client or tool key that collects counts past the per-window caps. */
export const OVERFLOW_KEY = "*";

const DEFAULTS = { windowMs: 10_000, perKey: 5, perWindow: 100, maxClients: 256 };
const TOOLS_PER_CLIENT = 32;
const CLIENTS_PER_RECORD = 32;

interface ClientTally {
  refused: number;
  /** tool -> kind -> count */
  tools: Map<string, Map<RefusalKind, number>>;
}

interface Tallies {
  start: number;
  end: number;
  clients: Map<string, ClientTally>;
}

/**
 * Decides which refusals get their own record and counts the others into
 * per-window summaries. One per gate (per agent).
 *
 * @example
 * ```ts
 * import { AuditLog, RefusalCoalescer } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await AuditLog.open(dir);
 * const refusals = new RefusalCoalescer(log, "github", { perKey: 1 });
 * const r = { client: "stdio", tool: "list_issues", kind: "invalid" } as const;
 * console.log(refusals.admit(r), refusals.admit(r)); // true false
 * await refusals.close(); // writes one refusal_summary with a count of 1
 * await log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class RefusalCoalescer {
  readonly #audit: AuditLog;
  readonly #agent: string;
  readonly #windowMs: number;
  readonly #perKey: number;
  readonly #perWindow: number;
  readonly #maxClients: number;
  readonly #now: () => number;
  #windowStart: number;
  #windowEnd: number;
  /** Own records per key in the current window (at most `perWindow` keys). */
  #own = new Map<string, number>();
  #ownTotal = 0;
  #tallies: Tallies;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #stats: RefusalStats = { admitted: 0, counted: 0, summaries: 0 };

  /**
   * @param audit the log summaries are written to
   * @param agent the agent the refusals belong to
   * @param options window, budgets and clock
   * @throws {RangeError} when an option is not a positive integer
   */
  constructor(audit: AuditLog, agent: string, options: RefusalOptions = {}) {
    this.#audit = audit;
    this.#agent = agent;
    this.#windowMs = positive(options.windowMs ?? DEFAULTS.windowMs, "windowMs");
    this.#perKey = positive(options.perKey ?? DEFAULTS.perKey, "perKey");
    this.#perWindow = positive(options.perWindow ?? DEFAULTS.perWindow, "perWindow");
    this.#maxClients = positive(options.maxClients ?? DEFAULTS.maxClients, "maxClients");
    this.#now = options.now ?? Date.now;
    const now = this.#now();
    this.#windowStart = now - (now % this.#windowMs);
    this.#windowEnd = this.#windowStart + this.#windowMs;
    this.#tallies = { start: this.#windowStart, end: this.#windowEnd, clients: new Map() };
  }

  /** A snapshot of the counters. */
  get stats(): RefusalStats {
    return { ...this.#stats };
  }

  /**
   * Decide whether a refusal gets its own record (true: the caller writes it)
   * or is counted for the window's summary (false: the caller writes nothing).
   * Synchronous and allocation-light: a map lookup and an increment.
   *
   * @param refusal client, tool and kind
   * @returns true when the caller should write the refusal's own record
   */
  admit(refusal: Refusal): boolean {
    const now = this.#now();
    if (now >= this.#windowEnd) this.#roll(now);
    if (this.#closed) return true;
    const key = `${refusal.client}\u0000${refusal.tool ?? ""}\u0000${refusal.kind}`;
    const n = this.#own.get(key) ?? 0;
    if (n < this.#perKey && this.#ownTotal < this.#perWindow) {
      this.#own.set(key, n + 1);
      this.#ownTotal++;
      this.#stats.admitted++;
      return true;
    }
    this.tally(refusal);
    return false;
  }

  /**
   * Count a refusal in the current window's summary without asking the
   * budget: for a refusal that was admitted but whose own record could not be
   * written, so that the summary still accounts for it.
   *
   * @param refusal client, tool and kind
   */
  tally(refusal: Refusal): void {
    this.#stats.counted++;
    addCount(this.#tallies, this.#maxClients, refusal.client, refusal.tool, refusal.kind, 1);
    if (this.#timer === null && !this.#closed) {
      const delay = Math.max(0, this.#windowEnd - this.#now()) + 1;
      const timer = setTimeout(() => {
        this.#timer = null;
        const now = this.#now();
        if (now >= this.#windowEnd) this.#roll(now);
      }, delay);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /**
   * End the current window now and write its summary, then wait until every
   * summary started so far has been written (or has failed and been kept).
   */
  async flush(): Promise<void> {
    this.#roll(this.#now(), true);
    await this.#writing;
  }

  /** Flush, stop the timer, and give every later refusal its own record. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
    this.#closed = true;
  }

  /** Start a new window at `now`; write the summary of the one that ended. */
  #roll(now: number, early = false): void {
    const ended = this.#tallies;
    const start = now - (now % this.#windowMs);
    this.#windowStart = early ? now : start;
    this.#windowEnd = start + this.#windowMs;
    if (!early) {
      this.#own.clear();
      this.#ownTotal = 0;
    }
    this.#tallies = { start: this.#windowStart, end: this.#windowEnd, clients: new Map() };
    if (ended.clients.size === 0) return;
    ended.end = Math.min(ended.end, now);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#writing = this.#writing.then(() => this.#write(ended));
  }

  async #write(tallies: Tallies): Promise<void> {
    const clients = [...tallies.clients];
    for (let i = 0; i < clients.length; i += CLIENTS_PER_RECORD) {
      const chunk = clients.slice(i, i + CLIENTS_PER_RECORD);
      let refused = 0;
      const entries = chunk.map(([client, tally]) => {
        refused += tally.refused;
        const counts: Record<string, Record<string, number>> = {};
        for (const [tool, kinds] of tally.tools) counts[tool] = Object.fromEntries(kinds);
        return { client, refused: tally.refused, counts };
      });
      try {
        await this.#audit.append({
          event: "refusal_summary",
          agent: this.#agent,
          tool: null,
          window_start: isoTimestamp(tallies.start),
          window_end: isoTimestamp(tallies.end),
          refused,
          clients: entries,
        });
        this.#stats.summaries++;
      } catch {
        // Keep what could not be written: merged into the current window, so
        // its summary covers it (and says from when).
        this.#tallies.start = Math.min(this.#tallies.start, tallies.start);
        for (const [client, tally] of clients.slice(i)) {
          for (const [tool, kinds] of tally.tools) {
            for (const [kind, n] of kinds) {
              addCount(this.#tallies, this.#maxClients, client, tool, kind, n);
            }
          }
        }
        return;
      }
    }
  }
}

function addCount(
  tallies: Tallies,
  maxClients: number,
  client: string,
  tool: string | null,
  kind: RefusalKind,
  n: number,
): void {
  let tally = tallies.clients.get(client);
  if (tally === undefined) {
    const key = tallies.clients.size < maxClients ? client : OVERFLOW_KEY;
    tally = tallies.clients.get(key);
    if (tally === undefined) {
      tally = { refused: 0, tools: new Map() };
      tallies.clients.set(key, tally);
    }
  }
  tally.refused += n;
  let toolKey = tool ?? UNKNOWN_TOOL_KEY;
  let kinds = tally.tools.get(toolKey);
  if (kinds === undefined) {
    if (tally.tools.size >= TOOLS_PER_CLIENT) toolKey = OVERFLOW_KEY;
    kinds = tally.tools.get(toolKey);
    if (kinds === undefined) {
      kinds = new Map();
      tally.tools.set(toolKey, kinds);
    }
  }
  kinds.set(kind, (kinds.get(kind) ?? 0) + n);
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot create refusal budget: ${name} must be a positive integer`);
  }
  return value;
}
