/**
 * What a server (`loom run`, the mesh) calls to keep the agent registry
 * (`registry.ts`) current: {@linkcode AgentRegistry.registerAgent} when an
 * agent is served, {@linkcode AgentRegistry.markAgent} when it stops or
 * fails, {@linkcode AgentRegistry.touch} when it is used.
 *
 * The registry is a convenience for `loom list` and `loom info`, never a
 * reason to stop serving: every method catches its own failures (a locked,
 * read-only or foreign database), reports the first one through `onError`
 * and returns. `touch` writes at most once a minute per agent, so calls do not
 * wait on the database; the connection's busy timeout is short (2 s) for the
 * same reason.
 *
 * @example
 * ```ts
 * import { AgentRegistry, resolveHome } from "./mod.ts";
 * import { parseConfig, starterConfig } from "../config/mod.ts";
 * const root = await Deno.makeTempDir();
 * const config = parseConfig(starterConfig("weather"), { path: `${root}/weather.yaml` });
 * {
 *   await using registry = await AgentRegistry.open(resolveHome(new Map([["LOOM_HOME", root]])), {
 *     onError: (message) => console.error(`warning: ${message}`),
 *   });
 *   registry.registerAgent(config, {
 *     path: config.source.path,
 *     signature: { verdict: "unsigned" },
 *     transport: "stdio",
 *   });
 *   registry.touch("weather");
 *   registry.markAgent("weather", "stopped");
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

import type { AgentConfig } from "../config/mod.ts";
import { type LoomStore, openStore } from "./db.ts";
import type { LoomHome } from "./home.ts";
import { type AgentStatus, type RegistrationInput, registrationOf } from "./registry.ts";

/** Options of {@linkcode AgentRegistry.open}. */
export interface AgentRegistryOptions {
  /** Told once, the first time the registry cannot be opened or written. */
  onError?: (message: string) => void;
  /** The clock, in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Least time between two last-seen writes of one agent (default 60,000 ms). */
  touchIntervalMs?: number;
  /** How long a write waits for another process's lock (default 2000 ms). */
  busyTimeoutMs?: number;
}

/** The default least time between two last-seen writes of one agent. */
export const TOUCH_INTERVAL_MS = 60_000;

/** A server's handle on the registry. Close it (or `await using`) when done. */
export class AgentRegistry implements Disposable, AsyncDisposable {
  #store: LoomStore | null;
  #onError: ((message: string) => void) | undefined;
  #warned = false;
  #now: () => number;
  #touchIntervalMs: number;
  /** Agents this handle registered, with the process recorded for each. */
  #registered = new Map<string, number | null>();
  /** When each agent's last-seen time was last written. */
  #lastTouch = new Map<string, number>();

  private constructor(store: LoomStore | null, options: AgentRegistryOptions) {
    this.#store = store;
    this.#onError = options.onError;
    this.#now = options.now ?? Date.now;
    this.#touchIntervalMs = options.touchIntervalMs ?? TOUCH_INTERVAL_MS;
  }

  /**
   * Open the registry of a home. Never throws: when the state database cannot
   * be opened, `onError` is told and every later call does nothing.
   *
   * @param home the LOOM home
   * @param options error sink, clock, touch interval, busy timeout
   * @returns the handle
   */
  static async open(home: LoomHome, options: AgentRegistryOptions = {}): Promise<AgentRegistry> {
    let store: LoomStore | null = null;
    let failure: unknown;
    try {
      store = await openStore(home, { busyTimeoutMs: options.busyTimeoutMs ?? 2000 });
    } catch (error) {
      failure = error;
    }
    const registry = new AgentRegistry(store, options);
    if (store === null) registry.#fail(failure);
    return registry;
  }

  /** False when the database could not be opened (or was closed). */
  get available(): boolean {
    return this.#store?.isOpen === true;
  }

  /**
   * Record that this process serves an agent (status `running` unless
   * `input.status` says otherwise): the agent's row is upserted and its tools
   * replaced in one transaction.
   *
   * @param config the loaded config
   * @param input its path, signature verdict and transport
   * @returns true when recorded
   */
  registerAgent(config: AgentConfig, input: RegistrationInput): boolean {
    return this.registerAgents([{ config, input }]);
  }

  /**
   * {@linkcode AgentRegistry.registerAgent} for many agents in one
   * transaction (one disk sync): what a mesh calls once its agents are
   * loaded, so starting 50 agents costs one write, not 50.
   *
   * @param agents each loaded config with its path, signature verdict,
   *   transport and status (`skipped` for a config left out)
   * @returns true when all were recorded (none is, when one fails)
   */
  registerAgents(
    agents: readonly { config: AgentConfig; input: RegistrationInput }[],
  ): boolean {
    return this.#write(() => {
      const registrations = agents.map(({ config, input }) => registrationOf(config, input));
      this.#store!.registry.registerAll(registrations, new Date(this.#now()));
      for (const r of registrations) {
        this.#registered.set(r.name, r.pid);
        this.#lastTouch.set(r.name, this.#now());
      }
      return true;
    });
  }

  /**
   * Set the status of an agent this handle registered (`stopped` on
   * shutdown, `failed` when serving failed). A newer registration of the same
   * agent by another process is left alone.
   *
   * @param name the agent
   * @param status its new status
   * @returns true when recorded
   */
  markAgent(name: string, status: AgentStatus): boolean {
    if (!this.#registered.has(name)) return false;
    return this.#write(() =>
      this.#store!.registry.mark(name, status, this.#registered.get(name)!, new Date(this.#now()))
    );
  }

  /**
   * Record that an agent this handle registered was just used. Writes at
   * most once per touch interval per agent; other calls return at once.
   *
   * @param name the agent
   */
  touch(name: string): void {
    if (!this.#registered.has(name)) return;
    const now = this.#now();
    const last = this.#lastTouch.get(name);
    if (last !== undefined && now - last < this.#touchIntervalMs) return;
    this.#lastTouch.set(name, now);
    this.#write(() =>
      this.#store!.registry.touch(name, this.#registered.get(name)!, new Date(now))
    );
  }

  /** Close the database. Closing twice is a no-op. */
  close(): void {
    this.#store?.close();
  }

  /** Same as {@linkcode AgentRegistry.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Same as {@linkcode AgentRegistry.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #write(fn: () => boolean): boolean {
    if (!this.available) return false;
    try {
      return fn();
    } catch (error) {
      this.#fail(error);
      return false;
    }
  }

  #fail(error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    const reason = error instanceof Error ? error.message : String(error);
    this.#onError?.(
      `the agent registry cannot be written (${reason.slice(0, 300)}): "loom list" and ` +
        `"loom info" may be out of date; serving goes on`,
    );
  }
}
