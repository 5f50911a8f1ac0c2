/**
 * An agent's anomaly detection, wired (`runtime.anomaly`): the detector of
 * `src/security/anomaly/` fed by the gate's observer (every finished call)
 * and by the pins (`mesh_pins.ts`: a changed definition), its state in the
 * home's state database (`src/store/anomaly_state.ts`: first seen, learned
 * tools), and what it decides written out: an `anomaly` `detected` audit
 * record, `loom_anomalies_total{agent,kind}` on `/metrics`, and the webhook
 * alerts of `anomaly_alerts.ts`.
 *
 * The gate's path stays cheap: the observer decides in memory; a tool
 * learned now (rare: once per tool per home) is written after the call's
 * synchronous part, batched with the others of the same turn; records and
 * alerts are asynchronous and their failures are logged, never thrown.
 * ServedAgent opens one monitor per agent, with its own connection to the
 * state database, and closes it after its gate.
 *
 * @module
 */

import type { AgentConfig } from "../config/mod.ts";
import type { CounterSeries } from "../_util/metrics.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import type { HostLookup } from "../net/mod.ts";
import { type LoomHome, type LoomStore, openStore } from "../store/mod.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import {
  type Anomaly,
  AnomalyDetector,
  type AnomalyKind,
  type CallObservation,
} from "../security/anomaly/mod.ts";
import { AnomalyAlerts } from "./anomaly_alerts.ts";

/** What {@linkcode AnomalyMonitor.open} needs. */
export interface AnomalyMonitorOptions {
  home: LoomHome;
  audit: AuditLog;
  metrics?: LoomMetrics;
  /** A line for the operator. */
  log(line: string): void;
  /** The clock, epoch ms (tests). */
  now?: () => number;
  /** Resolver seam of the webhook's destination check (tests). */
  lookup?: HostLookup;
}

/** One agent's anomaly detection. */
export class AnomalyMonitor {
  readonly #agent: string;
  readonly #detector: AnomalyDetector;
  readonly #store: LoomStore;
  readonly #options: AnomalyMonitorOptions;
  readonly #now: () => number;
  readonly #alerts: AnomalyAlerts | null;
  readonly #series = new Map<AnomalyKind, CounterSeries>();
  readonly #records = new Set<Promise<void>>();
  #toLearn: string[] = [];
  #closed = false;

  private constructor(
    config: AgentConfig,
    detector: AnomalyDetector,
    store: LoomStore,
    options: AnomalyMonitorOptions,
  ) {
    this.#agent = config.name;
    this.#detector = detector;
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const spec = config.runtime.anomaly;
    this.#alerts = spec.webhook === null ? null : new AnomalyAlerts({
      agent: config.name,
      url: spec.webhook,
      allowNetworks: config.runtime.allowNetworks,
      windowMs: spec.windowMs,
      audit: options.audit,
      metrics: options.metrics,
      log: options.log,
      now: this.#now,
      lookup: options.lookup,
    });
  }

  /**
   * Open the monitor of an agent: its first-seen time (recorded now on its
   * first start in this home) and the tools it learned.
   *
   * @param config the agent's config (`runtime.anomaly` enabled)
   * @param options home, audit log, metrics, log, clock
   */
  static async open(config: AgentConfig, options: AnomalyMonitorOptions): Promise<AnomalyMonitor> {
    const store = await openStore(options.home);
    try {
      const now = (options.now ?? Date.now)();
      const firstSeenMs = store.anomalyState.firstSeen(config.name, now);
      const learned = store.anomalyState.learned(config.name);
      const spec = config.runtime.anomaly;
      const detector = new AnomalyDetector(spec, { firstSeenMs, learned }, options.now);
      return new AnomalyMonitor(config, detector, store, options);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /** The gate's observer: one finished call (bound; never throws). */
  readonly observe = (call: CallObservation): void => {
    if (this.#closed) return;
    const seen = this.#detector.observe(call);
    if (seen.learned !== null) this.#learn(seen.learned);
    for (const anomaly of seen.anomalies) this.#report(anomaly);
  };

  /**
   * A pinned tool's definition changed (the pins hold it).
   *
   * @param tool the tool's own name
   */
  toolChanged(tool: string): void {
    if (this.#closed) return;
    const anomaly = this.#detector.toolChanged(tool);
    if (anomaly !== null) this.#report(anomaly);
  }

  /** Persist learned tools now and wait for the records and alerts under way (tests, close). */
  async settled(): Promise<void> {
    this.#persist();
    while (this.#records.size > 0) await Promise.allSettled([...this.#records]);
    await this.#alerts?.settled();
  }

  /** Persist what was learned, wait for records, stop alerts, close the database. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.settled();
    } finally {
      this.#closed = true;
      try {
        await this.#alerts?.close();
      } finally {
        this.#store.close();
      }
    }
  }

  #learn(tool: string): void {
    this.#toLearn.push(tool);
    if (this.#toLearn.length === 1) queueMicrotask(() => this.#persist());
  }

  #persist(): void {
    if (this.#toLearn.length === 0 || !this.#store.isOpen) return;
    const tools = this.#toLearn;
    this.#toLearn = [];
    try {
      this.#store.anomalyState.learn(this.#agent, tools, this.#now());
    } catch (error) {
      this.#options.log(
        `loom[${this.#agent}]: saving the tools anomaly detection learned failed: ` +
          errorText(error),
      );
    }
  }

  #report(anomaly: Anomaly): void {
    const metrics = this.#options.metrics;
    if (metrics !== undefined) {
      let series = this.#series.get(anomaly.kind);
      if (series === undefined) {
        series = metrics.anomalies.labels(this.#agent, anomaly.kind);
        this.#series.set(anomaly.kind, series);
      }
      series.inc();
    }
    const record = this.#options.audit.append({
      event: "anomaly",
      agent: this.#agent,
      tool: anomaly.tool,
      action: "detected",
      kind: anomaly.kind,
      count: anomaly.count,
      threshold: anomaly.threshold,
      window_ms: anomaly.windowMs,
      suppressed: anomaly.suppressed,
    }).then(() => {}, (error) => {
      this.#options.log(
        `loom[${this.#agent}]: an anomaly record could not be written: ${errorText(error)}`,
      );
    });
    this.#records.add(record);
    void record.finally(() => this.#records.delete(record));
    this.#alerts?.notify(anomaly);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
