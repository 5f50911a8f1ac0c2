/**
 * Anomaly detection (`runtime.anomaly`, `docs/security-controls.md`): the
 * decisions for one agent, over the calls its gate finished and the pins
 * that changed. Pure logic with an injected clock; its owner
 * (`src/app/anomaly_monitor.ts`) persists the learned tools, writes the
 * `anomaly` audit records, counts them on `/metrics` and sends alerts.
 *
 * @example
 * ```ts
 * import { AnomalyDetector } from "./mod.ts";
 *
 * let now = 0;
 * const thresholds = {
 *   warmupMs: 1_000, windowMs: 60_000, rateLimit: 1, credentialDenials: 3, denialBurst: 20,
 * };
 * const detector = new AnomalyDetector(thresholds, { firstSeenMs: 0, learned: [] }, () => now);
 * detector.observe({ tool: "get", status: "success", denial: null }); // learned silently
 * now = 5_000;
 * const seen = detector.observe({ tool: "put", status: "success", denial: null });
 * if (seen.anomalies[0]?.kind !== "new_tool") throw new Error("expected new_tool");
 * ```
 *
 * @module
 */

export {
  type Anomaly,
  ANOMALY_KINDS,
  AnomalyDetector,
  type AnomalyKind,
  type AnomalyThresholds,
  type CallObservation,
  type DetectorState,
  type Observed,
  SlidingCount,
} from "./detector.ts";
