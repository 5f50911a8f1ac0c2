/**
 * "Did you mean" hints: the closest of a list of known names to one that was
 * typed (config keys, CLI commands and options).
 *
 * @example
 * ```ts
 * import { suggest } from "./suggest.ts";
 * suggest("maxExecutionTime", ["max_execution_time", "rate_limit"]); // "max_execution_time"
 * ```
 *
 * @module
 */

/** Distance at or under which a name is suggested. */
const SUGGEST_DISTANCE = 2;

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > SUGGEST_DISTANCE + 1) return SUGGEST_DISTANCE + 2;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The closest candidate to `name`: equal once case, `_` and `-` are ignored
 * (`maxExecutionTime` -> `max_execution_time`), or within edit distance 2.
 */
export function suggest(name: string, candidates: readonly string[]): string | undefined {
  const normal = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const exact = candidates.find((c) => normal(c) === normal(name));
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestDistance = SUGGEST_DISTANCE + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A one-letter name is within distance 2 of every short name: not a hint.
  return best !== undefined && name.length > bestDistance ? best : undefined;
}
