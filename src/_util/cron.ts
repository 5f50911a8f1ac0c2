/**
 * Five-field cron expressions (`minute hour day-of-month month day-of-week`)
 * and the next time one fires, in an IANA time zone.
 *
 * The grammar is classic cron's: each field is a comma-separated list of
 * `*`, a value, a range `a-b`, or either with a step (`*\/5`, `1-30/2`, and
 * `a/n` for `a-max/n`). Months may be written `JAN`-`DEC` and days of the
 * week `SUN`-`SAT` (any case); day of week 0 and 7 are both Sunday. The
 * macros `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and
 * `@yearly` (`@annually`) stand for their five fields.
 *
 * Day of month and day of week: when both are restricted (neither field
 * starts with `*`), a day matches if either matches, as classic cron does;
 * otherwise both must match (so a `*` field matches every day).
 *
 * Time zones: a schedule is read in local wall-clock time of its zone
 * (computed with `Intl.DateTimeFormat`, no table of our own). A local time
 * that does not exist (the hour skipped when clocks go forward) is skipped;
 * a local time that exists twice (the hour repeated when clocks go back)
 * fires once, at its first occurrence.
 *
 * @example
 * ```ts
 * import { parseCron } from "./cron.ts";
 * const weekdays = parseCron("0 9 * * MON-FRI");
 * weekdays.nextAfter(new Date("2026-03-06T10:00:00Z"), "UTC")?.toISOString();
 * // "2026-03-09T09:00:00.000Z" (the Friday's 09:00 has passed; next is Monday)
 * ```
 *
 * @module
 */

import { LoomError } from "../errors.ts";

/** The five fields, in order. */
export const CRON_FIELDS = ["minute", "hour", "day-of-month", "month", "day-of-week"] as const;
/** One field's name. */
export type CronField = typeof CRON_FIELDS[number];

/** A cron expression that does not parse: names the field and the bad token. */
export class CronError extends LoomError {
  /** The field at fault, or null when the expression as a whole is (field count, macro). */
  readonly field: CronField | null;
  /** The token at fault (bounded), or "" when none. */
  readonly token: string;

  /**
   * @param field the field at fault, or null
   * @param token the bad token
   * @param problem what is wrong with it
   */
  constructor(field: CronField | null, token: string, problem: string) {
    const shown = token.length > 32 ? `${token.slice(0, 29)}...` : token;
    const where = field === null ? "" : `${field} field: `;
    const what = shown === "" ? "" : `${JSON.stringify(shown)} `;
    super("CONFIG_INVALID", `Invalid cron expression: ${where}${what}${problem}`);
    this.name = "CronError";
    this.field = field;
    this.token = shown;
  }
}

const MONTH_NAMES = [
  "JAN",
  "FEB",
  "MAR",
  "APR",
  "MAY",
  "JUN",
  "JUL",
  "AUG",
  "SEP",
  "OCT",
  "NOV",
  "DEC",
];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldRule {
  min: number;
  max: number;
  /** Names for values, from `min` on. */
  names?: readonly string[];
  what: string;
}

const RULES: Record<CronField, FieldRule> = {
  minute: { min: 0, max: 59, what: "a minute 0-59" },
  hour: { min: 0, max: 23, what: "an hour 0-23" },
  "day-of-month": { min: 1, max: 31, what: "a day of month 1-31" },
  month: { min: 1, max: 12, names: MONTH_NAMES, what: "a month 1-12 or JAN-DEC" },
  "day-of-week": { min: 0, max: 7, names: DAY_NAMES, what: "a day of week 0-7 or SUN-SAT" },
};

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** Days in each month of a leap year (the most a month can have). */
const MAX_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Longest search of {@linkcode CronSchedule.nextAfter}, in days (covers Feb 29 across 2100). */
const SEARCH_DAYS = 366 * 9;

/** A local wall-clock time, to the minute (month 1-12). */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/** A parsed cron expression. */
export interface CronSchedule {
  /** The expression as written (trimmed). */
  readonly source: string;
  /** Whether a local wall-clock minute matches (seconds ignored). */
  matches(time: WallTime): boolean;
  /**
   * The first instant strictly after `date` whose local time in `timeZone`
   * matches, at the start of its minute; a local time that does not exist is
   * skipped, and one that exists twice counts only at its first occurrence.
   *
   * @param date the instant to search after
   * @param timeZone an IANA time zone (`Europe/Berlin`, `UTC`)
   * @returns the instant, or null when none comes within about nine years
   * @throws {RangeError} for an unknown time zone
   */
  nextAfter(date: Date, timeZone: string): Date | null;
}

/**
 * Parse a five-field cron expression (or a macro such as `@daily`).
 *
 * @param text the expression
 * @returns the schedule
 * @throws {CronError} naming the field and the token at fault
 */
export function parseCron(text: string): CronSchedule {
  const source = text.trim();
  let expanded = source;
  if (source.startsWith("@")) {
    const macro = MACROS[source.toLowerCase()];
    if (macro === undefined) {
      throw new CronError(
        null,
        source,
        `is not a macro: expected one of ${Object.keys(MACROS).join(", ")}`,
      );
    }
    expanded = macro;
  }
  const parts = expanded.split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 5) {
    throw new CronError(
      null,
      "",
      `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`,
    );
  }
  const sets = parts.map((part, i) => parseField(CRON_FIELDS[i], part));
  const [minutes, hours, days, months, weekdays] = sets;
  if (weekdays.has(7)) {
    weekdays.delete(7);
    weekdays.add(0);
  }
  const domRestricted = !parts[2].startsWith("*");
  const dowRestricted = !parts[4].startsWith("*");
  if (!(domRestricted && dowRestricted)) checkDaysExist(days, months, parts[2]);
  return new Schedule(source, {
    minutes,
    hours,
    days,
    months,
    weekdays,
    either: domRestricted && dowRestricted,
  });
}

/** A day of month that exists in none of the months named can never fire. */
function checkDaysExist(days: Set<number>, months: Set<number>, token: string): void {
  for (const month of months) {
    for (const day of days) if (day <= MAX_MONTH_DAYS[month - 1]) return;
  }
  throw new CronError("day-of-month", token, "never occurs in the months the month field names");
}

function parseField(field: CronField, text: string): Set<number> {
  const rule = RULES[field];
  const out = new Set<number>();
  for (const item of text.split(",")) {
    if (item === "") throw new CronError(field, text, "has an empty list item");
    const [range, step, extra] = item.split("/");
    if (extra !== undefined) throw new CronError(field, item, "has more than one step");
    let every = 1;
    if (step !== undefined) {
      if (!/^\d{1,3}$/.test(step) || Number(step) < 1 || Number(step) > rule.max) {
        throw new CronError(field, item, `has a step that is not a number 1-${rule.max}`);
      }
      every = Number(step);
    }
    let low: number;
    let high: number;
    if (range === "*") {
      low = rule.min;
      high = field === "day-of-week" ? 6 : rule.max;
    } else {
      const bounds = range.split("-");
      if (bounds.length > 2) throw new CronError(field, item, "is not a value or a range a-b");
      low = parseValue(field, bounds[0], item);
      high = bounds.length === 2
        ? parseValue(field, bounds[1], item)
        : (step !== undefined ? rule.max : low);
      if (low > high) {
        throw new CronError(field, item, "is a range whose start is after its end");
      }
    }
    for (let v = low; v <= high; v += every) out.add(v);
  }
  return out;
}

function parseValue(field: CronField, token: string, item: string): number {
  const rule = RULES[field];
  let value: number;
  if (/^\d{1,2}$/.test(token)) {
    value = Number(token);
  } else {
    const index = rule.names?.indexOf(token.toUpperCase()) ?? -1;
    if (index < 0) throw new CronError(field, item, `is not ${rule.what}`);
    value = rule.min + index;
  }
  if (value < rule.min || value > rule.max) throw new CronError(field, item, `is not ${rule.what}`);
  return value;
}

interface Sets {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0-6, Sunday 0. */
  weekdays: ReadonlySet<number>;
  /** Both day fields restricted: either may match. */
  either: boolean;
}

class Schedule implements CronSchedule {
  readonly source: string;
  readonly #sets: Sets;
  readonly #minutes: readonly number[];
  readonly #hours: readonly number[];

  constructor(source: string, sets: Sets) {
    this.source = source;
    this.#sets = sets;
    this.#minutes = [...sets.minutes].sort((a, b) => a - b);
    this.#hours = [...sets.hours].sort((a, b) => a - b);
  }

  matches(time: WallTime): boolean {
    const s = this.#sets;
    return s.minutes.has(time.minute) && s.hours.has(time.hour) &&
      this.#dayMatches(time.year, time.month, time.day);
  }

  #dayMatches(year: number, month: number, day: number): boolean {
    const s = this.#sets;
    if (!s.months.has(month)) return false;
    const dom = s.days.has(day);
    const dow = s.weekdays.has(new Date(Date.UTC(year, month - 1, day)).getUTCDay());
    return s.either ? dom || dow : dom && dow;
  }

  nextAfter(date: Date, timeZone: string): Date | null {
    const after = date.getTime();
    const start = wallTime(after, timeZone);
    // Civil days from the start's local date on; Date.UTC serves as a plain calendar.
    const first = Date.UTC(start.year, start.month - 1, start.day);
    for (let i = 0; i < SEARCH_DAYS; i++) {
      const civil = new Date(first + i * 86_400_000);
      const year = civil.getUTCFullYear();
      const month = civil.getUTCMonth() + 1;
      const day = civil.getUTCDate();
      if (!this.#dayMatches(year, month, day)) continue;
      for (const hour of this.#hours) {
        if (i === 0 && hour < start.hour) continue;
        for (const minute of this.#minutes) {
          if (i === 0 && hour === start.hour && minute <= start.minute) continue;
          const at = firstInstant({ year, month, day, hour, minute }, timeZone);
          // Missing (skipped by a clock change), or its first occurrence already passed.
          if (at !== null && at > after) return new Date(at);
        }
      }
    }
    return null;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (found === undefined) {
    found = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    if (formatters.size > 64) formatters.clear();
    formatters.set(timeZone, found);
  }
  return found;
}

/**
 * The local wall-clock time of an instant in a time zone (seconds dropped).
 *
 * @param at milliseconds since the epoch
 * @param timeZone an IANA time zone
 * @throws {RangeError} for an unknown time zone
 */
export function wallTime(at: number, timeZone: string): WallTime & { second: number } {
  const out = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatter(timeZone).formatToParts(at)) {
    if (part.type in out) out[part.type as keyof typeof out] = Number(part.value);
  }
  return out;
}

/** Local minus universal time at an instant, in milliseconds. */
function offsetAt(at: number, timeZone: string): number {
  const w = wallTime(at, timeZone);
  const whole = at - (((at % 1000) + 1000) % 1000);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - whole;
}

/**
 * The earliest instant whose local time in `timeZone` is `time`, or null
 * when that local time does not exist there (skipped by a clock change).
 *
 * @param time a local wall-clock minute
 * @param timeZone an IANA time zone
 */
export function firstInstant(time: WallTime, timeZone: string): number | null {
  const asUtc = Date.UTC(time.year, time.month - 1, time.day, time.hour, time.minute);
  let best: number | null = null;
  // The offsets in force a day before, at, and a day after cover both sides of a change.
  for (const probe of [asUtc - 86_400_000, asUtc, asUtc + 86_400_000]) {
    const at = asUtc - offsetAt(probe, timeZone);
    const w = wallTime(at, timeZone);
    const same = w.year === time.year && w.month === time.month && w.day === time.day &&
      w.hour === time.hour && w.minute === time.minute;
    if (same && (best === null || at < best)) best = at;
  }
  return best;
}

/**
 * Whether a name is a time zone this runtime knows (`Intl`).
 *
 * @param timeZone the name to check
 */
export function isTimeZone(timeZone: string): boolean {
  if (timeZone === "" || timeZone.length > 64) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}
