/**
 * Where a bridge call runs (step 8 of the gate). The gate hands every call
 * that passed its checks to a {@linkcode BridgeExecutor}: in-process for
 * `sandbox: none`, or the agent's sandboxed host process for `sandbox: deno`
 * (`AgentHost`, in `src/runtime/sandbox/`).
 *
 * @module
 */

import type { BridgeSpec } from "../../config/mod.ts";
import { type BridgeRunResult, runBridge } from "../../upstream/mod.ts";
import { PolicyError } from "../../errors.ts";
import { agentHttpClient } from "../_agent_client.ts";

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
  /**
   * Called once, with the status, when the upstream's final response headers
   * have arrived, before its body is read (the gate reports it as progress).
   * Absent: nothing is reported, and a sandboxed host is not asked to tell.
   * Must not throw.
   */
  onResponseHead?: (status: number) => void;
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
      onResponseHead: options.onResponseHead,
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
