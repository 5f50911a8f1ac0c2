/**
 * Small statistics helpers: percentiles over samples, and median with min/max
 * over bench rounds.
 *
 * @module
 */

/** What one load run measured, over HTTP or stdio. */
export interface LoadRun {
  requests: number;
  seconds: number;
  /** Requests per second. */
  rps: number;
  /** Failed requests; what fails depends on the transport (see its runner). */
  errors: number;
  p50Us: number;
  p99Us: number;
}

/** The options every bench driver takes: `--quick`, `--rounds=N`, `--seconds=S`. */
export const ROUND_OPTIONS = {
  quick: { type: "boolean", default: false },
  rounds: { type: "string" },
  seconds: { type: "string" },
} as const;

/** Median, minimum and maximum of a series of round results. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/**
 * The value at percentile `p` (0-100) of `sorted`, nearest-rank.
 *
 * @param sorted samples in ascending order
 * @param p the percentile
 * @returns the sample, or NaN for no samples
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Median with min and max of the finite values among `values`.
 *
 * @param values one result per round
 * @returns the spread (NaN fields when no value is finite)
 */
export function spread(values: readonly number[]): Spread {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}
