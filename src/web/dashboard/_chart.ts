/**
 * The Overview's bar chart of calls and denials per hour, drawn on the
 * server as inline SVG (no script, no inline style: presentation attributes
 * and the stylesheet's classes only), with a `<title>`, a `<desc>` and the
 * same numbers as text beside it for screen readers.
 *
 * @module
 */

import { html } from "hono/html";
import type { Html } from "./_html.ts";

/** One hour of the chart. */
export interface HourBucket {
  /** The hour's start, in milliseconds. */
  start: number;
  calls: number;
  denials: number;
}

const WIDTH = 720;
const HEIGHT = 180;
const LEFT = 36;
const BOTTOM = 24;

/**
 * Bucket times into the `hours` hours that end at `now`, oldest first.
 *
 * @param now the end of the last bucket, in milliseconds
 * @param hours how many buckets
 */
export function emptyBuckets(now: number, hours: number): HourBucket[] {
  const first = now - hours * 3_600_000;
  return Array.from({ length: hours }, (_, i) => ({
    start: first + i * 3_600_000,
    calls: 0,
    denials: 0,
  }));
}

/** The bucket of a time; undefined before the chart, the last one from "now" on. */
export function bucketOf(buckets: HourBucket[], at: number): HourBucket | undefined {
  if (buckets.length === 0) return undefined;
  const i = Math.floor((at - buckets[0].start) / 3_600_000);
  if (i < 0) return undefined;
  // The chart ends at "now": a record of this very millisecond, or a little
  // ahead (another process's clock), belongs to the last hour.
  return buckets[Math.min(i, buckets.length - 1)];
}

/**
 * The chart and its text summary.
 *
 * @param buckets the hours, oldest first
 * @param id a unique id prefix for the `<title>` and `<desc>`
 */
export function callsChart(buckets: HourBucket[], id: string): Html {
  const calls = buckets.reduce((n, b) => n + b.calls, 0);
  const denials = buckets.reduce((n, b) => n + b.denials, 0);
  const peak = buckets.reduce((best, b) => (b.calls > best.calls ? b : best), buckets[0]);
  const max = Math.max(1, ...buckets.map((b) => b.calls), ...buckets.map((b) => b.denials));
  const slot = (WIDTH - LEFT) / Math.max(1, buckets.length);
  const barWidth = Math.max(1, slot / 2 - 1);
  const plot = HEIGHT - BOTTOM;
  const heightOf = (n: number) => Math.round((n / max) * (plot - 8));
  const bars = buckets.map((b, i) => {
    const x = LEFT + i * slot;
    const hc = heightOf(b.calls);
    const hd = heightOf(b.denials);
    const label = hourLabel(b.start);
    return html`<g><title>${label}: ${b.calls} calls, ${b.denials} denials</title>
<rect class="bar-calls" x="${x.toFixed(1)}" y="${plot - hc}" width="${
      barWidth.toFixed(1)
    }" height="${hc}"></rect>
<rect class="bar-denials" x="${(x + barWidth).toFixed(1)}" y="${plot - hd}" width="${
      barWidth.toFixed(1)
    }" height="${hd}"></rect>${
      i % 6 === 0
        ? html`<text x="${x.toFixed(1)}" y="${HEIGHT - 6}">−${buckets.length - i} h</text>`
        : ""
    }</g>`;
  });
  const summary = `${count(calls, "call")} and ${count(denials, "denial")} in the last ` +
    `${buckets.length} hours` +
    (peak === undefined || peak.calls === 0
      ? "."
      : `; the busiest hour began at ${hourLabel(peak.start)} UTC with ${
        count(peak.calls, "call")
      }.`);
  return html`
    <figure class="chart">
      <svg role="img" aria-labelledby="${id}-title ${id}-desc"
        viewBox="0 0 ${WIDTH} ${HEIGHT}"
        width="100%" height="${HEIGHT}" preserveAspectRatio="none">
    <title id="${id}-title">Calls and denials per hour, last ${buckets.length} hours</title>
    <desc id="${id}-desc">${summary}</desc>
    <line class="edge" x1="${LEFT}" y1="${plot}" x2="${WIDTH}" y2="${plot}"></line>
    <text x="0" y="12">${max}</text><text x="0" y="${plot}">0</text>
    ${bars}
    <text x="${WIDTH - 28}" y="${HEIGHT - 6}">now</text>
      </svg>
      <figcaption><span class="legend legend-calls">calls</span>
    <span class="legend legend-denials">denials</span> per hour (UTC). ${summary}</figcaption>
    </figure>
  `;
}

/** `1 call`, `2 calls`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function hourLabel(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}
