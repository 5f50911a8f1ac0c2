/**
 * The webhook alerts of an agent's anomalies (`runtime.anomaly.webhook`):
 * one JSON POST per kind per window. The first anomaly of a kind is sent at
 * once; the ones that follow within the window are folded into one more
 * alert, sent when the window since the last alert ends. Deliveries use
 * {@linkcode postWebhook} (`schedule_webhook.ts`): the destination rules of
 * a bridge and `runtime.allow_networks`, no redirects, a timeout. Every
 * delivery, made or not, is an `anomaly` `alert` record and a count on
 * `/metrics`; a failure is never thrown.
 *
 * @module
 */

import { type HostLookup, HttpClient } from "../net/mod.ts";
import type { CounterSeries } from "../_util/metrics.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import type { Anomaly, AnomalyKind } from "../security/anomaly/mod.ts";
import { postWebhook, type WebhookResult } from "./schedule_webhook.ts";

/** Most tool names one alert lists. */
export const MAX_ALERT_TOOLS = 16;

/** The JSON body of an anomaly alert. */
export interface AnomalyAlertBody {
  source: "loom";
  agent: string;
  kind: AnomalyKind;
  /** How many anomalies of this kind the alert reports. */
  anomalies: number;
  /** The tools they concern (at most {@linkcode MAX_ALERT_TOOLS}), sorted. */
  tools: string[];
  /** The first and last anomaly reported, ISO-8601 UTC. */
  first_at: string;
  last_at: string;
  /** The agent's window, in milliseconds. */
  window_ms: number;
}

/** What {@linkcode AnomalyAlerts} needs. */
export interface AnomalyAlertsOptions {
  agent: string;
  url: string;
  /** The agent's `runtime.allow_networks`. */
  allowNetworks: readonly string[];
  windowMs: number;
  audit: AuditLog;
  metrics?: LoomMetrics;
  log(line: string): void;
  now?: () => number;
  /** Resolver seam of the destination check (tests). */
  lookup?: HostLookup;
}

interface Pending {
  count: number;
  tools: Set<string>;
  first: number;
  last: number;
}

interface KindState {
  lastSent: number;
  pending: Pending | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The alerts of one agent. */
export class AnomalyAlerts {
  readonly #options: AnomalyAlertsOptions;
  readonly #now: () => number;
  readonly #http = new HttpClient({ maxIdlePerOrigin: 1 });
  readonly #stop = new AbortController();
  readonly #kinds = new Map<AnomalyKind, KindState>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #results = new Map<string, CounterSeries>();
  #closed = false;

  constructor(options: AnomalyAlertsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * An anomaly was recorded: alert now, or fold it into the next alert of its kind.
   *
   * @param anomaly what was detected
   */
  notify(anomaly: Anomaly): void {
    if (this.#closed) return;
    const now = this.#now();
    let state = this.#kinds.get(anomaly.kind);
    const pending = state?.pending ?? { count: 0, tools: new Set(), first: anomaly.at, last: 0 };
    pending.count++;
    pending.last = anomaly.at;
    if (anomaly.tool !== null && pending.tools.size < MAX_ALERT_TOOLS) {
      pending.tools.add(anomaly.tool);
    }
    if (state === undefined || now >= state.lastSent + this.#options.windowMs) {
      clearTimeout(state?.timer);
      state = { lastSent: now, pending: null, timer: undefined };
      this.#kinds.set(anomaly.kind, state);
      this.#send(anomaly.kind, pending);
      return;
    }
    state.pending = pending;
    if (state.timer !== undefined) return;
    const kind = anomaly.kind;
    const wait = Math.max(0, state.lastSent + this.#options.windowMs - now);
    state.timer = setTimeout(() => this.#flush(kind), wait);
    Deno.unrefTimer(state.timer);
  }

  /** Stop the timers, end deliveries under way and wait for them (pending alerts are dropped: their anomalies are in the audit log). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const state of this.#kinds.values()) clearTimeout(state.timer);
    this.#stop.abort();
    await Promise.allSettled([...this.#inFlight]);
    this.#http.close();
  }

  /** Deliveries under way have ended (tests). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #flush(kind: AnomalyKind): void {
    const state = this.#kinds.get(kind);
    if (state === undefined || this.#closed) return;
    state.timer = undefined;
    const pending = state.pending;
    state.pending = null;
    if (pending === null) return;
    state.lastSent = this.#now();
    this.#send(kind, pending);
  }

  #send(kind: AnomalyKind, pending: Pending): void {
    const o = this.#options;
    const body: AnomalyAlertBody = {
      source: "loom",
      agent: o.agent,
      kind,
      anomalies: pending.count,
      tools: [...pending.tools].sort(),
      first_at: new Date(pending.first).toISOString(),
      last_at: new Date(pending.last).toISOString(),
      window_ms: o.windowMs,
    };
    const delivery = postWebhook(this.#http, {
      url: o.url,
      body,
      allowNetworks: o.allowNetworks,
      signal: this.#stop.signal,
      lookup: o.lookup,
    }).then((result) => this.#record(kind, pending.count, result))
      .catch((error) => o.log(`loom[${o.agent}]: anomaly alert failed: ${errorText(error)}`));
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  async #record(kind: AnomalyKind, count: number, result: WebhookResult): Promise<void> {
    const o = this.#options;
    if (o.metrics !== undefined) {
      let series = this.#results.get(result.result);
      if (series === undefined) {
        series = o.metrics.anomalyAlerts.labels(o.agent, result.result);
        this.#results.set(result.result, series);
      }
      series.inc();
    }
    if (result.result !== "delivered") {
      o.log(`loom[${o.agent}]: anomaly alert (${kind}) ${result.result}: ${result.reason}`);
    }
    await o.audit.append({
      event: "anomaly",
      agent: o.agent,
      tool: null,
      action: "alert",
      kind,
      count,
      result: result.result,
      ...("status" in result && result.status !== undefined ? { http_status: result.status } : {}),
      webhook: new URL(o.url).origin,
      ...(result.result === "delivered" ? {} : { reason: result.reason }),
    });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
