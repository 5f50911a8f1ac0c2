/**
 * Where a bridge call runs. The gate hands every call that passed its checks
 * to a {@linkcode BridgeExecutor}: in-process for `sandbox: none`, or the
 * agent's sandboxed host process for `sandbox: deno` (see `sandbox/`).
 *
 * @module
 */

import type { BridgeSpec } from "../config/mod.ts";
import { HttpClient } from "../net/mod.ts";
import { type BridgeRunResult, runBridge } from "../upstream/mod.ts";
import { PolicyError } from "../errors.ts";

/** What one execution needs besides the bridge and its arguments. */
export interface ExecuteOptions {
  /** Aborts at the call deadline or when the client cancels. */
  signal: AbortSignal;
  /** Cap on decompressed response bytes. */
  maxResponseBytes: number;
  /** Private networks the config names. */
  allowNetworks: readonly string[];
  /**
   * Secret values the broker granted for this bridge's own origin, by name.
   * Injected at the last moment; never logged.
   */
  secrets: ReadonlyMap<string, string>;
}

/** Runs bridge calls; one per agent. */
export interface BridgeExecutor {
  /** Execute one call; throws the bridge's LoomErrors. */
  run(bridge: BridgeSpec, args: Record<string, unknown>, options: ExecuteOptions): Promise<
    BridgeRunResult
  >;
  /** Release resources (stop a host process). */
  close(): Promise<void>;
}

/**
 * Idle upstream connections an agent keeps per origin. As many as a busy
 * agent has calls in flight: with fewer, every burst closes connections
 * and the next one opens them again (the client's default of 32 made most
 * calls at 64 in flight pay for a new TCP connection).
 */
export const IDLE_CONNECTIONS_PER_ORIGIN = 128;

/**
 * The HTTP client of one agent's executor, in process or in its host
 * process: connections kept alive per origin, closed with the executor.
 *
 * @returns a new client
 */
export function agentHttpClient(): HttpClient {
  return new HttpClient({ maxIdlePerOrigin: IDLE_CONNECTIONS_PER_ORIGIN });
}

/** Runs bridges inside the LOOM process (`sandbox: none`, tiers 1-2 only). */
export class InProcessExecutor implements BridgeExecutor {
  /** The agent's upstream connections, kept alive between calls. */
  #client = agentHttpClient();

  /** Execute one call in this process. */
  run(
    bridge: BridgeSpec,
    args: Record<string, unknown>,
    options: ExecuteOptions,
  ): Promise<BridgeRunResult> {
    return runBridge(bridge, args, {
      signal: options.signal,
      maxResponseBytes: options.maxResponseBytes,
      allowNetworks: options.allowNetworks,
      client: this.#client,
      resolveSecret: (name) => {
        const value = options.secrets.get(name);
        if (value === undefined) throw new PolicyError(`Secret "${name}" is not available`);
        return value;
      },
    });
  }

  /** Close the kept-alive upstream connections; later calls fail. */
  close(): Promise<void> {
    this.#client.close();
    return Promise.resolve();
  }
}
