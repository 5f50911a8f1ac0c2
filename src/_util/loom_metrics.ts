/**
 * LOOM's metrics: what `/metrics` shows (README.md, "Metrics"). One
 * {@linkcode LoomMetrics} per process, made by the command that serves
 * (`loom run`, the mesh) and passed to the audit log, every agent's gate and
 * sandbox host, and the HTTP transport; series carry an `agent` label, so
 * many agents share one registry.
 *
 * Every label value comes from a bounded set: agent and tool names from the
 * loaded configs, and the fixed outcomes, reasons and kinds below. A tool
 * name a client sent that the agent does not have is counted under the tool
 * `"unknown"` (reason `unknown_tool`), never under the name it sent.
 * Arguments, results, secrets, client names and sessions never become
 * labels.
 *
 * @module
 */

import {
  type Counter,
  type CounterSeries,
  type Gauge,
  type GaugeSeries,
  type Histogram,
  type HistogramSeries,
  MetricsRegistry,
} from "./metrics.ts";

/** How a call ended, for `loom_tool_calls_total`. */
export type CallOutcome = "success" | "tool_error" | "refused";

/** Why the gate refused a call, for `loom_tool_call_denials_total`. */
export type DenialReason =
  /** A tool name the agent does not have. */
  | "unknown_tool"
  /** Arguments failed validation. */
  | "invalid"
  /** Injection detection refused an argument. */
  | "injection"
  /** The agent's tier (or an OAuth caller's scopes) does not allow the call. */
  | "tier"
  /** The tool's sliding window is full. */
  | "rate_limit"
  /** Held for a person's approval. */
  | "held"
  /** Held, and refused because the agent's review queue is full. */
  | "queue_full"
  /** An `ai-generated` config whose bytes are not approved. */
  | "quarantined"
  /** A tool whose definition changed since it was pinned, not approved yet. */
  | "tool_changed"
  /** The audit log could not record the call, so it was not answered with a result. */
  | "audit_unavailable"
  /** The credential broker did not release the bridge's secrets. */
  | "secret_denied";

/**
 * Why a call ended as a tool error, for `loom_tool_call_errors_total`: the
 * bridge or its upstream failed (`error`), ran past its deadline
 * (`timeout`), or LOOM itself failed (`internal`).
 */
export type CallErrorKind = "error" | "timeout" | "internal";

/** The `tool` label of calls to a name the agent does not have. */
export const UNKNOWN_TOOL_LABEL = "unknown";

/** Call latency buckets in seconds: 1 ms to 30 s. */
export const CALL_SECONDS_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Audit commit latency buckets in seconds: 100 µs to 5 s. */
export const AUDIT_COMMIT_SECONDS_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  5,
];

/** Options of {@linkcode LoomMetrics}. */
export interface LoomMetricsOptions {
  /** LOOM's version, for `loom_build_info`. */
  version: string;
  /** When the process started, epoch ms (default: `performance.timeOrigin`). */
  startedAt?: number;
}

/** The metrics of one LOOM process. */
export class LoomMetrics {
  /** The registry `/metrics` renders. */
  readonly registry: MetricsRegistry = new MetricsRegistry();
  /** `loom_tool_calls_total{agent,tool,outcome}`. */
  readonly calls: Counter;
  /** `loom_tool_call_errors_total{agent,tool,kind}`. */
  readonly errors: Counter;
  /** `loom_tool_call_denials_total{agent,tool,reason}`. */
  readonly denials: Counter;
  /** `loom_tool_call_duration_seconds{agent,tool}`. */
  readonly callSeconds: Histogram;
  /** `loom_agent_host_up{agent}`. */
  readonly hostUp: Gauge;
  /** `loom_agent_host_restarts_total{agent}`. */
  readonly hostRestarts: Counter;
  /** `loom_audit_commit_duration_seconds`: one series, no labels. */
  readonly auditCommitSeconds: HistogramSeries;
  /** `loom_anomalies_total{agent,kind}`: kinds are the fixed set of `src/security/anomaly/`. */
  readonly anomalies: Counter;
  /** `loom_anomaly_alerts_total{agent,result}`: result `delivered`, `failed` or `refused`. */
  readonly anomalyAlerts: Counter;

  constructor(options: LoomMetricsOptions) {
    const r = this.registry;
    r.gauge("loom_build_info", "LOOM's version; the value is always 1.", ["version"])
      .labels(options.version).set(1);
    r.gauge("loom_process_start_time_seconds", "When this LOOM process started, Unix time.")
      .labels().set(Math.floor((options.startedAt ?? performance.timeOrigin) / 1000));
    this.calls = r.counter(
      "loom_tool_calls_total",
      "Tool calls that reached an agent's gate, by how they ended.",
      ["agent", "tool", "outcome"],
    );
    this.errors = r.counter(
      "loom_tool_call_errors_total",
      "Tool calls that ran and ended as a tool error, by kind.",
      ["agent", "tool", "kind"],
    );
    this.denials = r.counter(
      "loom_tool_call_denials_total",
      "Tool calls the gate refused, by reason.",
      ["agent", "tool", "reason"],
    );
    this.callSeconds = r.histogram(
      "loom_tool_call_duration_seconds",
      "Time from a call reaching the gate to its answer.",
      ["agent", "tool"],
      CALL_SECONDS_BUCKETS,
    );
    this.hostUp = r.gauge(
      "loom_agent_host_up",
      "1 while the agent's sandbox host process is ready, else 0.",
      ["agent"],
    );
    this.hostRestarts = r.counter(
      "loom_agent_host_restarts_total",
      "Restarts of the agent's sandbox host process after a crash or kill.",
      ["agent"],
    );
    this.auditCommitSeconds = r.histogram(
      "loom_audit_commit_duration_seconds",
      "Time from an audit record's append to its batch being synced to disk.",
      [],
      AUDIT_COMMIT_SECONDS_BUCKETS,
    ).labels();
    this.anomalies = r.counter(
      "loom_anomalies_total",
      "Anomalies recorded for an agent (runtime.anomaly), by kind.",
      ["agent", "kind"],
    );
    this.anomalyAlerts = r.counter(
      "loom_anomaly_alerts_total",
      "Anomaly webhook alerts sent for an agent, by how the delivery ended.",
      ["agent", "result"],
    );
  }

  /** The series of one agent's tool, looked up once (the gate keeps one per tool). */
  toolSeries(agent: string, tool: string): ToolCallSeries {
    return new ToolCallSeries(this, agent, tool);
  }

  /** The sandbox host series of one agent. */
  agentHost(agent: string): AgentHostSeries {
    return new AgentHostSeries(this.hostUp.labels(agent), this.hostRestarts.labels(agent));
  }

  /** Everything, in the text exposition format 0.0.4. */
  render(): string {
    return this.registry.render();
  }
}

/** The series of one agent's tool: outcome counters and the latency histogram. */
export class ToolCallSeries {
  readonly #metrics: LoomMetrics;
  readonly #agent: string;
  readonly #tool: string;
  readonly #success: CounterSeries;
  readonly #toolError: CounterSeries;
  readonly #refused: CounterSeries;
  readonly #seconds: HistogramSeries;

  constructor(metrics: LoomMetrics, agent: string, tool: string) {
    this.#metrics = metrics;
    this.#agent = agent;
    this.#tool = tool;
    this.#success = metrics.calls.labels(agent, tool, "success");
    this.#toolError = metrics.calls.labels(agent, tool, "tool_error");
    this.#refused = metrics.calls.labels(agent, tool, "refused");
    this.#seconds = metrics.callSeconds.labels(agent, tool);
  }

  /**
   * Count one finished call.
   *
   * @param seconds from the call reaching the gate to its answer
   * @param denial why it was refused, or null when it was not
   * @param error for a call that ran and failed: its kind; else null
   */
  finished(seconds: number, denial: DenialReason | null, error: CallErrorKind | null): void {
    this.#seconds.observe(seconds);
    if (denial !== null) {
      this.#refused.inc();
      this.#metrics.denials.labels(this.#agent, this.#tool, denial).inc();
    } else if (error !== null) {
      this.#toolError.inc();
      this.#metrics.errors.labels(this.#agent, this.#tool, error).inc();
    } else {
      this.#success.inc();
    }
  }
}

/** The sandbox host series of one agent. */
export class AgentHostSeries {
  readonly #up: GaugeSeries;
  readonly #restarts: CounterSeries;

  constructor(up: GaugeSeries, restarts: CounterSeries) {
    this.#up = up;
    this.#restarts = restarts;
  }

  /**
   * Follow one lifecycle event of the host process (the actions of
   * `SandboxEvent`, `src/runtime/sandbox/`): `ready` is up; `stop`, `crash`
   * and `kill` are down; `restart` (a start after a crash or kill) counts a
   * restart; `spawn` changes nothing until the process is ready.
   */
  observe(action: string): void {
    if (action === "ready") this.#up.set(1);
    else if (action === "stop" || action === "crash" || action === "kill") this.#up.set(0);
    else if (action === "restart") this.#restarts.inc();
  }
}
