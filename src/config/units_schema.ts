/**
 * The schemas of the units a config writes: durations (`500ms`, `2s`, `1m`,
 * `1h`, or seconds), sizes (bytes, or `64KiB`, `1MiB`, `10MB`) and per-minute
 * rate limits, each with its bounds. The resolved config holds milliseconds,
 * bytes and windows (`load.ts`).
 *
 * @module
 */

import { z } from "zod";
import { parseDuration, parseSize } from "../_util/units.ts";

const DURATION_TEXT = /^\d{1,9}(?:\.\d{1,3})?(?:ms|s|m|h)?$/;
const SIZE_TEXT = /^(?:\d{1,12}[bB]?|\d{1,9}(?:\.\d{1,3})?[kKmMgG][iI]?[bB])$/;
const MAX_DURATION_MS = 24 * 3_600_000;
const MAX_SIZE_BYTES = 1024 ** 3;
const DURATION_HINT =
  'Expected a duration such as "500ms", "2s", "1m", "1h" or a number of seconds';
const SIZE_HINT = 'Expected a size such as 65536, "64KiB", "1MiB" or "10MB"';

/**
 * A duration: `500ms`, `2s`, `1m`, `1h`, or a number of seconds; 1 ms to 24 h.
 * The resolved config holds milliseconds.
 */
export const Duration = z.union([
  z.number().positive({ error: "Duration must be positive" }),
  z.string().regex(DURATION_TEXT, { error: DURATION_HINT }),
], { error: DURATION_HINT }).refine((value) => {
  // A value the union refused already has its own issue.
  if (typeof value === "number" && value <= 0) return true;
  const ms = parseDuration(value);
  return ms === undefined || (ms >= 1 && ms <= MAX_DURATION_MS);
}, { error: "Duration must be between 1ms and 24h" }).meta({
  description: 'A duration: "500ms", "2s", "1m", "1h", or a number of seconds',
});
/** What people write for a duration. */
export type Duration = z.input<typeof Duration>;

/**
 * A size: integer bytes, or a number with a unit (`64KiB`, `1MiB`, `10MB`);
 * 1 byte to 1 GiB. The resolved config holds bytes.
 */
export const Size = z.union([
  z.int().positive({ error: "Size must be positive" }),
  z.string().regex(SIZE_TEXT, { error: SIZE_HINT }),
], { error: SIZE_HINT }).refine((value) => {
  // A value the union refused already has its own issue.
  if (typeof value === "number" && (value <= 0 || !Number.isInteger(value))) return true;
  const bytes = parseSize(value);
  return bytes === undefined || (bytes >= 1 && bytes <= MAX_SIZE_BYTES);
}, { error: "Size must be between 1 byte and 1GiB" }).meta({
  description: 'A size: integer bytes, or "64KiB", "1MiB", "10MB"',
});
/** What people write for a size. */
export type Size = z.input<typeof Size>;

/** A sliding-window rate limit, written per minute. */
export const RateLimit = z.strictObject({
  per_minute: z.int().min(1).max(1_000_000).meta({
    description: "Calls allowed in any 60-second window",
  }),
});
/** What people write for a rate limit. */
export type RateLimit = z.input<typeof RateLimit>;
