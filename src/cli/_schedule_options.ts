/**
 * The schedule options of `loom mesh`: `--no-schedule` and `--time-zone TZ`
 * (the time zone cron expressions of `triggers` are read in; the process's
 * own, as `Intl` resolves it, by default).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { isTimeZone } from "../_util/cron.ts";
import { localTimeZone } from "../app/mod.ts";

/** The `parseArgs` options (spread into the command's own). */
export const SCHEDULE_OPTIONS = {
  "no-schedule": { type: "boolean" },
  "time-zone": { type: "string" },
} as const;

/** Help lines of the options. */
export const SCHEDULE_HELP =
  `      --no-schedule           do not run the tools' triggers (cron schedules); run
                              them in one mesh process only
      --time-zone TZ          IANA time zone of the triggers' cron expressions
                              (default: this process's, e.g. Europe/Berlin)`;

/**
 * Whether to run the schedule, and in which time zone.
 *
 * @param values the parsed options
 * @returns null with `--no-schedule`, else the time zone
 * @throws {UsageError} for an unknown time zone, or `--time-zone` with `--no-schedule`
 */
export function scheduleTimeZone(
  values: { "no-schedule"?: boolean; "time-zone"?: string },
): string | null {
  const zone = values["time-zone"];
  if (values["no-schedule"] === true) {
    if (zone !== undefined) throw new UsageError("--time-zone has no use with --no-schedule");
    return null;
  }
  if (zone === undefined) return localTimeZone();
  if (!isTimeZone(zone)) {
    throw new UsageError(
      `Invalid --time-zone "${zone.slice(0, 64)}": expected an IANA time zone such as ` +
        '"Europe/Berlin" or "UTC"',
    );
  }
  return zone;
}
