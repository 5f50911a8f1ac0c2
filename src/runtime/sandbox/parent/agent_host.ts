/**
 * The executor of `sandbox: deno`: an agent's bridge calls sent to its
 * sandboxed host process. How the process is launched is `launch.ts`, when
 * it lives and dies `supervise.ts`, the pipe `channel.ts`; this module runs
 * one call over them, with its deadline and cancellation.
 *
 * Defends the caller against a host that does not answer: every call ends
 * by its deadline plus a grace period whatever the child does, and a child
 * that then fails a liveness ping is killed. The sandbox's network
 * allowances are fixed at start from the config, never widened per call.
 *
 * @module
 */

import type { AgentConfig, BridgeSpec } from "../../../config/mod.ts";
import type { BridgeRunResult } from "../../../upstream/mod.ts";
import { LoomError } from "../../../errors.ts";
import { Deadlines } from "../../../_util/deadlines.ts";
import { bridgeTargets } from "../../../security/sandbox/mod.ts";
import type { BridgeExecutor, ExecuteOptions } from "../../gate/mod.ts";
import type { RunRequest } from "../protocol.ts";
import { abortError, isTimeout, type Pending, timeoutError, unavailable } from "./channel.ts";
import { type HostProcess, Supervisor, type SupervisorOptions } from "./supervise.ts";

/** Options of {@linkcode AgentHost}: how its process is launched and supervised. */
export type AgentHostOptions = SupervisorOptions;

type Timer = ReturnType<typeof setTimeout>;

function hostOf(bridge: BridgeSpec): string | null {
  try {
    return bridgeTargets([bridge])[0].host;
  } catch {
    return null;
  }
}

/**
 * Runs an agent's bridge calls in its sandboxed host process
 * (`sandbox: deno`). One process per agent, started on the first call and
 * reused over a persistent pipe; calls run concurrently.
 *
 * - deadline: a call without an answer by its deadline plus `graceMs` ends as
 *   `UPSTREAM_TIMEOUT`; if the process then does not answer a ping within
 *   `graceMs` it is killed with SIGKILL (`kill`/`timeout`);
 * - memory: V8 aborts the process at `memoryMb` (`kill`/`memory`);
 * - crash: calls in flight fail with `UNAVAILABLE` ("Agent host exited"); the
 *   next call restarts the process after a backoff (100 ms doubling to 30 s,
 *   reset once a process stayed up for 60 s);
 * - idle: stopped after `idleMs` without calls (`stop`/`idle`);
 * - {@linkcode AgentHost.close}: stopped and awaited (`stop`/`shutdown`).
 *
 * The sandbox's network allowances are fixed at start from the config; the
 * per-call `allowNetworks` is ignored. A bridge that is not one of the
 * config's is sent inline and still runs inside the same wall.
 */
export class AgentHost implements BridgeExecutor, AsyncDisposable {
  readonly config: AgentConfig;
  #supervisor: Supervisor;
  /** Hosts the child may have resolved: the config's, and those of bridges sent inline. */
  #resolvable = new Set<string>();
  /** Each config bridge's index, sent instead of the bridge. */
  #bridgeIndex: Map<BridgeSpec, number>;
  #deadlineMs: number;
  /** The calls' deadline timers, shared by calls due within the same few milliseconds. */
  #deadlines = new Deadlines();

  /**
   * @param config the agent config; the Deno flags derive from it alone
   * @param options mode, entry, limits, callbacks
   */
  constructor(config: AgentConfig, options: AgentHostOptions = {}) {
    this.config = config;
    this.#supervisor = new Supervisor(config, options, this.#resolvable);
    this.#bridgeIndex = new Map(config.bridges.map((bridge, index) => [bridge, index]));
    this.#deadlineMs = config.runtime.maxExecutionTimeMs;
    for (const target of bridgeTargets(config.bridges)) this.#resolvable.add(target.host);
  }

  /** The running process's id, or null when none runs. */
  get pid(): number | null {
    return this.#supervisor.pid;
  }

  /** How many processes were started so far. */
  get spawnCount(): number {
    return this.#supervisor.spawnCount;
  }

  /**
   * Execute one call in the agent host, starting it if needed.
   *
   * @param bridge the bridge (one of the config's, else sent inline)
   * @param args validated arguments
   * @param options deadline signal, size cap, granted secrets
   * @returns the bridge result
   * @throws {LoomError} the bridge's errors; `UNAVAILABLE` when the process
   *   cannot start or exits; `UPSTREAM_TIMEOUT` past the deadline
   */
  async run(
    bridge: BridgeSpec,
    args: Record<string, unknown>,
    options: ExecuteOptions,
  ): Promise<BridgeRunResult> {
    const supervisor = this.#supervisor;
    if (supervisor.closed) throw unavailable("Agent host is closed");
    supervisor.beginCall();
    try {
      const proc = supervisor.live() ?? await supervisor.ensure(options.signal);
      const result = await this.#call(proc, bridge, args, options);
      if (result === null) throw new LoomError("INTERNAL", "Agent host sent an empty result");
      return result;
    } finally {
      supervisor.endCall();
    }
  }

  /** Stop the process (if any) and wait for it to exit. Later calls fail. */
  close(): Promise<void> {
    return this.#supervisor.close();
  }

  /** Same as {@linkcode AgentHost.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #call(
    proc: HostProcess,
    bridge: BridgeSpec,
    args: Record<string, unknown>,
    options: ExecuteOptions,
  ): Promise<BridgeRunResult | null> {
    const { signal } = options;
    if (signal.aborted) return Promise.reject(abortError(signal.reason, this.#deadlineMs));
    const index = this.#bridgeIndex.get(bridge);
    if (index === undefined) {
      const host = hostOf(bridge);
      if (host !== null) this.#resolvable.add(host);
    }
    const deadlineMs = this.#deadlineMs;
    const graceMs = this.#supervisor.graceMs;
    const { channel } = proc;
    const id = this.#supervisor.nextId();
    return new Promise((resolve, reject) => {
      let grace: Timer | null = null;
      const finish = () => {
        cancelDeadline();
        if (grace !== null) clearTimeout(grace);
        signal.removeEventListener("abort", onAbort);
        channel.forget(id);
      };
      const timedOut = () => {
        finish();
        reject(timeoutError(deadlineMs));
        this.#supervisor.checkAlive(proc);
      };
      const onAbort = () => {
        if (isTimeout(signal.reason)) {
          grace ??= setTimeout(timedOut, graceMs);
          return;
        }
        finish();
        channel.send({ op: "cancel", id });
        reject(abortError(signal.reason, deadlineMs));
      };
      const cancelDeadline = this.#deadlines.after(deadlineMs + graceMs, timedOut);
      signal.addEventListener("abort", onAbort, { once: true });
      const pending: Pending = {
        resolve: (result) => {
          finish();
          resolve(result);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      };
      const request: RunRequest = {
        id,
        op: "run",
        bridge: index ?? bridge,
        args,
        secrets: Object.fromEntries(options.secrets),
        deadlineMs,
        maxResponseBytes: options.maxResponseBytes,
      };
      const { onResponseHead } = options;
      if (onResponseHead !== undefined) {
        // Asked for only when someone listens; forwarded once per call,
        // however many notices the (untrusted) child sends.
        request.head = true;
        pending.head = (status) => {
          pending.head = undefined;
          onResponseHead(status);
        };
      }
      channel.expect(id, pending);
      channel.send(request);
    });
  }
}
