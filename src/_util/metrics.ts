/**
 * A small metrics registry: counters, gauges and histograms with labels,
 * rendered in the Prometheus text exposition format, version 0.0.4. LOOM
 * serves it at `/metrics` on the HTTP transport (`src/web/mcp_http.ts`);
 * which metrics exist is `loom_metrics.ts`.
 *
 * Cost. A labelled series is looked up once, when whoever updates it is
 * built (the gate, per tool), and then updated in place: `inc()` adds to a
 * number, `observe()` scans the bucket bounds and adds to a typed array.
 * Nothing allocates per update and nothing runs on a timer; the text is
 * built only when someone scrapes.
 *
 * Cardinality. Label values are whatever the caller passes, so callers pass
 * only values from a bounded set (agent and tool names from configs, fixed
 * reasons). As a last guard each family keeps at most `maxSeries` series:
 * later label sets get a detached series that is updated but never shown.
 *
 * Escaping. Label values are escaped as the format requires (backslash,
 * double quote, line feed), HELP text likewise (backslash, line feed); metric
 * and label names are checked when a family is made, never taken from input.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * const registry = new MetricsRegistry();
 * const calls = registry.counter("demo_calls_total", "Calls.", ["tool"]);
 * calls.labels("search").inc();
 * registry.render(); // "# HELP demo_calls_total Calls.\n# TYPE ... demo_calls_total{tool=\"search\"} 1\n"
 * ```
 *
 * @module
 */

/** The content type of the text exposition format this module renders. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Default most series per family (see the module doc, "Cardinality"). */
const DEFAULT_MAX_SERIES = 10_000;

/** A label value escaped for the exposition format: `\` `"` and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value as the format writes it (`+Inf`, `-Inf`, `NaN` spelled out). */
export function formatSampleValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

/** A counter series: only goes up. */
export class CounterSeries {
  /** The current value. */
  value = 0;
  /** Add `n` (default 1); a negative or non-finite `n` is ignored. */
  inc(n = 1): void {
    if (n >= 0 && n !== Infinity) this.value += n;
  }
}

/** A gauge series: set to any value. */
export class GaugeSeries {
  /** The current value. */
  value = 0;
  /** Set the value. */
  set(value: number): void {
    this.value = value;
  }
}

/** A histogram series: counts of observations per bucket, their sum and count. */
export class HistogramSeries {
  readonly #bounds: Float64Array;
  /** Non-cumulative counts; the last slot is above the highest bound. */
  readonly counts: Float64Array;
  /** Sum of the observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  constructor(bounds: Float64Array) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Record one observation (NaN is ignored). */
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

type Kind = "counter" | "gauge" | "histogram";

/** One metric family: a name, its help, its label names and its series. */
export abstract class MetricFamily<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly kind: Kind;
  readonly #series = new Map<string, { values: readonly string[]; series: S }>();
  readonly #maxSeries: number;

  constructor(name: string, help: string, labelNames: readonly string[], maxSeries: number) {
    if (!METRIC_NAME.test(name)) throw new TypeError(`Invalid metric name "${name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
        throw new TypeError(`Invalid label name "${label}" of metric "${name}"`);
      }
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.#maxSeries = maxSeries;
  }

  protected abstract create(): S;

  /**
   * The series of these label values (as many as the family has label
   * names), made on first use. Look it up once and keep it where a hot path
   * updates it.
   *
   * @throws {TypeError} when the number of values is wrong
   */
  labels(...values: string[]): S {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(
        `Metric "${this.name}" takes ${this.labelNames.length} label value(s), got ${values.length}`,
      );
    }
    const key = values.join("\u0000");
    const found = this.#series.get(key);
    if (found !== undefined) return found.series;
    const series = this.create();
    // Past the bound: a working series nobody sees (see the module doc).
    if (this.#series.size < this.#maxSeries) this.#series.set(key, { values, series });
    return series;
  }

  /** Number of series shown. */
  get size(): number {
    return this.#series.size;
  }

  /** The HELP and TYPE lines and every series, in the exposition format. */
  render(): string {
    let text = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.kind}\n`;
    for (const { values, series } of this.#series.values()) {
      text += this.renderSeries(this.#labelText(values), series);
    }
    return text;
  }

  /** `name="value",...` of one series (no braces), escaped. */
  #labelText(values: readonly string[]): string {
    return values.map((v, i) => `${this.labelNames[i]}="${escapeLabelValue(v)}"`).join(",");
  }

  protected abstract renderSeries(labels: string, series: S): string;
}

function braces(labels: string): string {
  return labels === "" ? "" : `{${labels}}`;
}

/** A counter family. */
export class Counter extends MetricFamily<CounterSeries> {
  readonly kind = "counter";
  protected create(): CounterSeries {
    return new CounterSeries();
  }
  protected renderSeries(labels: string, series: CounterSeries): string {
    return `${this.name}${braces(labels)} ${formatSampleValue(series.value)}\n`;
  }
}

/** A gauge family. */
export class Gauge extends MetricFamily<GaugeSeries> {
  readonly kind = "gauge";
  protected create(): GaugeSeries {
    return new GaugeSeries();
  }
  protected renderSeries(labels: string, series: GaugeSeries): string {
    return `${this.name}${braces(labels)} ${formatSampleValue(series.value)}\n`;
  }
}

/** A histogram family with fixed bucket upper bounds. */
export class Histogram extends MetricFamily<HistogramSeries> {
  readonly kind = "histogram";
  readonly #bounds: Float64Array;

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    maxSeries: number,
  ) {
    super(name, help, labelNames, maxSeries);
    if (buckets.length === 0 || buckets.some((b, i) => !(b > (buckets[i - 1] ?? -Infinity)))) {
      throw new TypeError(`Buckets of metric "${name}" must be increasing numbers`);
    }
    if (buckets.some((b) => !Number.isFinite(b))) {
      throw new TypeError(`Buckets of metric "${name}" must be finite (+Inf is implied)`);
    }
    this.#bounds = Float64Array.from(buckets);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }

  protected renderSeries(labels: string, series: HistogramSeries): string {
    const sep = labels === "" ? "" : ",";
    let text = "";
    let cumulative = 0;
    for (let i = 0; i <= this.#bounds.length; i++) {
      cumulative += series.counts[i];
      const le = i < this.#bounds.length ? formatSampleValue(this.#bounds[i]) : "+Inf";
      text += `${this.name}_bucket{${labels}${sep}le="${le}"} ${cumulative}\n`;
    }
    text += `${this.name}_sum${braces(labels)} ${formatSampleValue(series.sum)}\n`;
    text += `${this.name}_count${braces(labels)} ${series.count}\n`;
    return text;
  }
}

/** Options of the families a registry makes. */
export interface FamilyOptions {
  /** Most series shown (default 10,000). */
  maxSeries?: number;
}

/** The families of a process, rendered together. */
export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily<unknown>>();

  /** Make a counter family. @throws {TypeError} on a bad or taken name */
  counter(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: FamilyOptions = {},
  ): Counter {
    return this.#add(new Counter(name, help, labelNames, options.maxSeries ?? DEFAULT_MAX_SERIES));
  }

  /** Make a gauge family. @throws {TypeError} on a bad or taken name */
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: FamilyOptions = {},
  ): Gauge {
    return this.#add(new Gauge(name, help, labelNames, options.maxSeries ?? DEFAULT_MAX_SERIES));
  }

  /** Make a histogram family. @throws {TypeError} on a bad or taken name, or bad buckets */
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    options: FamilyOptions = {},
  ): Histogram {
    return this.#add(
      new Histogram(name, help, labelNames, buckets, options.maxSeries ?? DEFAULT_MAX_SERIES),
    );
  }

  #add<F extends MetricFamily<unknown>>(family: F): F {
    if (this.#families.has(family.name)) {
      throw new TypeError(`Metric "${family.name}" is already registered`);
    }
    this.#families.set(family.name, family);
    return family;
  }

  /** Every family in the text exposition format 0.0.4, in registration order. */
  render(): string {
    let text = "";
    for (const family of this.#families.values()) text += family.render();
    return text;
  }
}
