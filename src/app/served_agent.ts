/**
 * A served agent: one loaded config turned into the gate and protocol engine
 * that answer its MCP clients, with everything the gate needs around it. One
 * place builds it, so `loom run` and the mesh (many agents behind one
 * connection) cannot assemble it differently:
 *
 * - the credential broker, opened only for a config that names secrets (the
 *   master key is not touched otherwise), or one shared by the caller;
 * - the executor: the agent's own sandboxed Deno process for `sandbox: deno`
 *   (and `docker`, which runs the same way here), in-process for
 *   `sandbox: none`, with its lifecycle events recorded in the audit log;
 * - the gate, on the caller's audit log and, in a mesh, a shared rate
 *   limiter;
 * - the approval of an `ai-generated` config's exact bytes, read from the
 *   home's state database when the agent is built: without one the gate
 *   lists no tools and refuses their calls as quarantined
 *   (`src/runtime/gate/quarantine.ts`); an approval given while the agent
 *   runs applies from its next start;
 * - `agent_lifecycle` records: `start` before the first call can arrive,
 *   `stop` once when it is closed.
 *
 * Closing is idempotent and always releases what was opened, in reverse
 * order, even when recording the stop fails.
 *
 * @module
 */

import type { AgentConfig } from "../config/mod.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import { type LoomHome, openStore } from "../store/mod.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import type { RateLimiter } from "../security/rate_limit/mod.ts";
import { CredentialBroker } from "../security/secrets/mod.ts";
import { bridgeSecretNames } from "../upstream/mod.ts";
import {
  AgentGate,
  approveCommand,
  type BridgeExecutor,
  type ConfigApprovalState,
  InProcessExecutor,
} from "../runtime/mod.ts";
import { AgentHost, type SandboxEvent } from "../runtime/sandbox/mod.ts";
import { McpEngine } from "../mcp/mod.ts";
import { recordAgent, sandboxRecorder } from "./lifecycle.ts";
import { type OpenedUpstream, openUpstream, upstreamSecretNames } from "./upstream_agent.ts";
import { AnomalyMonitor, type AnomalyMonitorOptions } from "./anomaly_monitor.ts";

/** What {@linkcode ServedAgent.open} needs. */
export interface ServedAgentOptions {
  /** The LOOM home (keys, vault, state database). */
  home: LoomHome;
  /** The audit log every call and lifecycle event is recorded in. */
  audit: AuditLog;
  /** The environment (`LOOM_MASTER_KEY` for the broker). */
  env: { get(key: string): string | undefined };
  /** How the agent is served, for its lifecycle records (`stdio`, `http`, `mesh`). */
  transport: string;
  /** The server's version, announced at initialize. */
  version: string;
  /** A rate limiter shared by several agents; default one of its own. */
  limiter?: RateLimiter;
  /** A broker shared by several agents; default opened here when the config names secrets. */
  broker?: CredentialBroker;
  /** A line for the operator (stderr): sandbox logs and recording failures. */
  log(line: string): void;
  /**
   * The sandbox process's idle stop, and a watcher of its events besides
   * their audit records (the mesh tracks each agent's host process).
   */
  sandbox?: { idleMs?: number; onEvent?: (event: SandboxEvent) => void };
  /** The process's metrics (`/metrics`): the gate's calls, the sandbox host's lifecycle. */
  metrics?: LoomMetrics;
  /**
   * Gateway mode: the gate now serves the upstream's tools as listed again
   * (they changed, or it restarted); check their pins and announce them.
   */
  onUpstreamChange?: () => void | Promise<void>;
  /** Anomaly detection's clock and resolver seam (tests); on unless `runtime.anomaly.enabled` is false. */
  anomaly?: Pick<AnomalyMonitorOptions, "now" | "lookup">;
}

/** One agent config, served: its gate and protocol engine. */
export class ServedAgent implements AsyncDisposable {
  /** The config it serves. */
  readonly config: AgentConfig;
  /** The gate every call passes. */
  readonly gate: AgentGate;
  /** The MCP engine in front of the gate. */
  readonly engine: McpEngine;
  readonly #audit: AuditLog;
  readonly #transport: string;
  readonly #ownBroker: CredentialBroker | undefined;
  /** Its anomaly detection (`runtime.anomaly`), unless turned off. */
  readonly anomalies: AnomalyMonitor | undefined;
  #closing: Promise<void> | null = null;

  private constructor(
    config: AgentConfig,
    gate: AgentGate,
    options: ServedAgentOptions,
    ownBroker: CredentialBroker | undefined,
    anomalies: AnomalyMonitor | undefined,
  ) {
    this.config = config;
    this.gate = gate;
    this.anomalies = anomalies;
    this.engine = new McpEngine(gate, { name: `loom-${config.name}`, version: options.version });
    this.#audit = options.audit;
    this.#transport = options.transport;
    this.#ownBroker = ownBroker;
  }

  /**
   * Build the served agent of a loaded config and record its start.
   *
   * @param config the loaded config
   * @param options home, audit log, environment, transport, shared parts
   * @returns the agent, ready for calls; close it when done
   * @throws when the broker cannot be opened (no master key) or the start
   *   cannot be recorded; nothing is left open then
   */
  static async open(config: AgentConfig, options: ServedAgentOptions): Promise<ServedAgent> {
    const ownBroker = configNeedsSecrets(config) && options.broker === undefined
      ? await CredentialBroker.open({ home: options.home, env: options.env, audit: options.audit })
      : undefined;
    let gate: AgentGate | undefined;
    let upstream: OpenedUpstream | undefined;
    const refresh = new UpstreamRefresh(options);
    let anomalies: AnomalyMonitor | undefined;
    try {
      anomalies = config.runtime.anomaly.enabled
        ? await AnomalyMonitor.open(config, { ...options.anomaly, ...options })
        : undefined;
      const configApproval = await findConfigApproval(config, options.home);
      if (config.mcpUpstream !== null) {
        upstream = await openUpstream(config, {
          audit: options.audit,
          broker: options.broker ?? ownBroker,
          log: options.log,
          version: options.version,
          onToolsChanged: () => refresh.changed(),
        });
      }
      gate = new AgentGate(config, {
        audit: options.audit,
        limiter: options.limiter,
        secrets: options.broker ?? ownBroker,
        // A gateway's calls go to its upstream; it has no bridges to run.
        executor: upstream === undefined ? executorFor(config, options) : new InProcessExecutor(),
        upstream,
        // Held calls wait for approval in the home's state database.
        approvals: {
          home: options.home,
          notify: (line) => options.log(`loom: ${line}`),
        },
        configApproval,
        metrics: options.metrics,
        observe: anomalies?.observe,
      });
      if (gate.quarantined) {
        options.log(
          `warning: "${config.name}" is ai-generated and its config is not approved: its ` +
            `${config.tools.length} tool(s) are quarantined (not listed, calls refused); a ` +
            `person other than its submitter runs "${approveCommand(config)}", then restarts it`,
        );
      }
      await recordAgent(options.audit, config, "start", options.transport);
      if (upstream !== undefined) refresh.attach(gate, upstream);
    } catch (error) {
      await (gate === undefined ? upstream?.caller.close() : gate.close());
      await anomalies?.close();
      await ownBroker?.close();
      throw error;
    }
    return new ServedAgent(config, gate, options, ownBroker, anomalies);
  }

  /** Record the stop, then close the gate (and its sandbox) and an own broker. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await recordAgent(this.#audit, this.config, "stop", this.#transport);
    } finally {
      try {
        await this.gate.close();
      } finally {
        try {
          await this.anomalies?.close();
        } finally {
          await this.#ownBroker?.close();
        }
      }
    }
  }

  /** Same as {@linkcode ServedAgent.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Follows a gateway's upstream when its tools change (or it restarts): lists
 * them again, gives the gate the new set, then tells the owner (which checks
 * the pins again and announces the listing). Changes that arrive while one
 * is handled are folded into one more pass.
 */
class UpstreamRefresh {
  readonly #options: ServedAgentOptions;
  #target: { gate: AgentGate; upstream: OpenedUpstream } | undefined;
  #running = false;
  #again = false;

  constructor(options: ServedAgentOptions) {
    this.#options = options;
  }

  /** Start following (changes before this are covered by the first listing). */
  attach(gate: AgentGate, upstream: OpenedUpstream): void {
    this.#target = { gate, upstream };
  }

  /** The upstream said its tools changed. */
  changed(): void {
    if (this.#target === undefined) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#run().finally(() => this.#running = false);
  }

  async #run(): Promise<void> {
    const { gate, upstream } = this.#target!;
    do {
      this.#again = false;
      try {
        gate.setUpstreamTools(await upstream.relist());
        await this.#options.onUpstreamChange?.();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.#options.log(
          `loom[${gate.config.name}]: listing the upstream's tools again failed: ${message}`,
        );
      }
    } while (this.#again);
  }
}

/**
 * Whether a config names a secret: in a bridge's templates, or its MCP
 * upstream's environment or headers. Only then is a broker opened for it.
 *
 * @param config the loaded config
 */
export function configNeedsSecrets(config: AgentConfig): boolean {
  return config.bridges.some((b) => bridgeSecretNames(b).length > 0) ||
    (config.mcpUpstream !== null && upstreamSecretNames(config.mcpUpstream).length > 0);
}

/**
 * The approval of an `ai-generated` config's exact bytes (this agent's name,
 * this digest), or null; other configs need none and open no database.
 */
async function findConfigApproval(
  config: AgentConfig,
  home: LoomHome,
): Promise<ConfigApprovalState | null> {
  if (config.provenance.source !== "ai-generated") return null;
  await using store = await openStore(home);
  return store.configApprovals.get(config.name, config.source.digest) ?? null;
}

/**
 * Where the agent's bridges run: its own Deno process behind permission flags
 * derived from the config (`sandbox: deno`, and `docker` when run here), or
 * in-process for `sandbox: none` (tiers 1-2 only, checked at load).
 */
function executorFor(config: AgentConfig, options: ServedAgentOptions): BridgeExecutor {
  if (config.runtime.sandbox === "none") return new InProcessExecutor();
  const recorded = sandboxRecorder(options.audit, config.name, options.log);
  const hostSeries = options.metrics?.agentHost(config.name);
  const record = hostSeries === undefined ? recorded : (event: SandboxEvent) => {
    hostSeries.observe(event.action);
    recorded(event);
  };
  const watch = options.sandbox?.onEvent;
  return new AgentHost(config, {
    idleMs: options.sandbox?.idleMs,
    onEvent: watch === undefined ? record : (event) => {
      record(event);
      watch(event);
    },
    // The agent process writes these lines: escaped by the caller's log.
    onLog: (line) => options.log(`loom[${config.name}]: ${line}`),
  });
}
