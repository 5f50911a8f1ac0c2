/**
 * Parse human durations (`500ms`, `2s`, `1m`, `1h`) and sizes (`65536`,
 * `64KiB`, `1MiB`, `10MB`).
 *
 * @example
 * ```ts
 * import { parseDuration, parseSize } from "./units.ts";
 * parseDuration("2s"); // 2000
 * parseSize("64KiB"); // 65536
 * ```
 *
 * @module
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/**
 * Parse a duration into milliseconds.
 *
 * @param text e.g. `500ms`, `2s`, `1.5m`, `1h`; a bare number means seconds
 * @returns milliseconds (an integer), or `undefined` when the text is not a duration
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isFinite(text) && text >= 0 ? text * 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * DURATION_UNITS[(m[2] ?? "s").toLowerCase()];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/**
 * Parse a size into bytes.
 *
 * @param text an integer number of bytes, or a number with a unit (`KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`, `B`)
 * @returns bytes (an integer), or `undefined` when the text is not a size
 */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const bytes = Number(m[1]) * SIZE_UNITS[(m[2] ?? "b").toLowerCase()];
  return Number.isSafeInteger(Math.round(bytes)) ? Math.round(bytes) : undefined;
}

/** Format milliseconds for a message: `250ms`, `2s`, `1.5s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${+(ms / 1000).toFixed(3)}s`;
}
