import assert from "node:assert/strict";
import fc from "fast-check";
import { CronError, firstInstant, isTimeZone, parseCron, wallTime } from "./cron.ts";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string, tz = "UTC") =>
  parseCron(expr).nextAfter(at(after), tz)?.toISOString() ?? null;

Deno.test("parseCron() reads values, lists, ranges and steps", () => {
  assert.equal(next("*/5 * * * *", "2026-01-01T00:03:00Z"), "2026-01-01T00:05:00.000Z");
  assert.equal(next("1-30/2 * * * *", "2026-01-01T00:29:00Z"), "2026-01-01T01:01:00.000Z");
  assert.equal(next("0 9,17 * * *", "2026-01-01T09:00:00Z"), "2026-01-01T17:00:00.000Z");
  assert.equal(next("10/20 * * * *", "2026-01-01T00:31:00Z"), "2026-01-01T00:50:00.000Z");
  assert.equal(next("0 9 * * 1-5", "2026-03-06T10:00:00Z"), "2026-03-09T09:00:00.000Z");
  assert.equal(next("@hourly", "2026-01-01T00:00:00Z"), "2026-01-01T01:00:00.000Z");
  assert.equal(next("@DAILY", "2026-01-01T00:00:00Z"), "2026-01-02T00:00:00.000Z");
});

Deno.test("parseCron() reads month and day names in any case, and 7 as Sunday", () => {
  // 2026-01-04 is a Sunday.
  assert.equal(next("0 0 * * sun", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00.000Z");
  assert.equal(next("0 0 * * 7", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00.000Z");
  assert.equal(next("0 0 * * 0", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00.000Z");
  assert.equal(next("0 0 * * Fri-Sat", "2026-01-01T00:00:00Z"), "2026-01-02T00:00:00.000Z");
  assert.equal(next("0 0 1 mar *", "2026-01-01T00:00:00Z"), "2026-03-01T00:00:00.000Z");
  assert.equal(next("0 0 1 Jun-AUG *", "2026-07-02T00:00:00Z"), "2026-08-01T00:00:00.000Z");
});

Deno.test("a day matches when either restricted day field matches, as classic cron", () => {
  // The 13th, or any Friday: 2026-02-06 is a Friday, the 13th a Friday too.
  const s = parseCron("0 0 13 * FRI");
  const fired: string[] = [];
  let cursor = at("2026-02-01T00:00:00Z");
  for (let i = 0; i < 5; i++) {
    cursor = s.nextAfter(cursor, "UTC")!;
    fired.push(cursor.toISOString().slice(0, 10));
  }
  assert.deepEqual(fired, ["2026-02-06", "2026-02-13", "2026-02-20", "2026-02-27", "2026-03-06"]);
  assert.equal(next("0 0 13 3 FRI", "2026-03-07T00:00:00Z"), "2026-03-13T00:00:00.000Z");
  // One field starts with "*": both must match (Fridays that are odd days).
  assert.equal(next("0 0 */2 * 5", "2026-02-01T00:00:00Z"), "2026-02-13T00:00:00.000Z");
});

Deno.test("errors name the field and the bad token", () => {
  const cases: [string, RegExp][] = [
    ["* * * *", /expected 5 fields .* got 4/],
    ["* * * * * *", /got 6/],
    ["60 * * * *", /minute field: "60" is not a minute 0-59/],
    ["* 24 * * *", /hour field: "24" is not an hour/],
    ["* * 0 * *", /day-of-month field: "0"/],
    ["* * * 13 *", /month field: "13" is not a month 1-12 or JAN-DEC/],
    ["* * * FOO *", /month field: "FOO"/],
    ["* * * * MOX", /day-of-week field: "MOX" is not a day of week 0-7 or SUN-SAT/],
    ["* * * * 8", /day-of-week field: "8"/],
    ["*/0 * * * *", /minute field: "\*\/0" has a step/],
    ["5-1 * * * *", /minute field: "5-1" is a range whose start is after its end/],
    ["1,,2 * * * *", /minute field: "1,,2" has an empty list item/],
    ["1-2-3 * * * *", /"1-2-3" is not a value or a range/],
    ["*/2/3 * * * *", /more than one step/],
    ["0 0 30 2 *", /day-of-month field: "30" never occurs/],
    ["@often", /"@often" is not a macro/],
    ["-1 * * * *", /minute field: "-1"/],
  ];
  for (const [expr, pattern] of cases) {
    assert.throws(() => parseCron(expr), (e) => {
      assert.ok(e instanceof CronError, expr);
      assert.equal(e.code, "CONFIG_INVALID");
      assert.match(e.message, pattern, expr);
      return true;
    });
  }
  assert.equal(new CronError("hour", "x".repeat(100), "bad").token.length, 32);
});

Deno.test("a local time skipped by a clock change does not fire (New York, March)", () => {
  // 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist that day.
  const tz = "America/New_York";
  assert.equal(next("30 2 * * *", "2026-03-07T12:00:00Z", tz), "2026-03-09T06:30:00.000Z");
  assert.equal(next("30 3 * * *", "2026-03-08T06:00:00Z", tz), "2026-03-08T07:30:00.000Z");
  assert.equal(firstInstant({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, tz), null);
});

Deno.test("a repeated local hour fires once (New York, November)", () => {
  // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00-01:59 happens twice.
  const tz = "America/New_York";
  assert.equal(next("30 1 * * *", "2026-11-01T05:00:00Z", tz), "2026-11-01T05:30:00.000Z");
  assert.equal(next("30 1 * * *", "2026-11-01T05:30:00Z", tz), "2026-11-02T06:30:00.000Z");
  // Every 15 minutes: nothing in the second pass, next at 02:00 EST.
  assert.equal(next("*/15 * * * *", "2026-11-01T05:50:00Z", tz), "2026-11-01T07:00:00.000Z");
  assert.equal(next("*/15 * * * *", "2026-11-01T06:20:00Z", tz), "2026-11-01T07:00:00.000Z");
});

Deno.test("zones with fractional offsets and half-hour changes", () => {
  assert.equal(
    next("0 9 * * *", "2026-01-01T00:00:00Z", "Asia/Kathmandu"),
    "2026-01-01T03:15:00.000Z",
  );
  // Lord Howe moves its clocks by 30 minutes: 2026-04-05 02:00 LHDT (+11) becomes 01:30 LHST (+10:30).
  const tz = "Australia/Lord_Howe";
  assert.equal(next("45 1 * * *", "2026-04-04T14:00:00Z", tz), "2026-04-04T14:45:00.000Z");
  assert.equal(next("45 1 * * *", "2026-04-04T14:45:00Z", tz), "2026-04-05T15:15:00.000Z");
});

Deno.test("isTimeZone() accepts IANA names and refuses others; wallTime() reads local time", () => {
  assert.ok(isTimeZone("UTC"));
  assert.ok(isTimeZone("Europe/Berlin"));
  assert.ok(!isTimeZone("Mars/Olympus_Mons"));
  assert.ok(!isTimeZone(""));
  assert.throws(() => parseCron("* * * * *").nextAfter(new Date(), "Nowhere/Else"), RangeError);
  const w = wallTime(Date.UTC(2026, 6, 1, 12, 0, 5), "Europe/Berlin");
  assert.deepEqual(w, { year: 2026, month: 7, day: 1, hour: 14, minute: 0, second: 5 });
});

// --- property: nextAfter() against a brute-force minute-by-minute scan ----

interface Field {
  text: string;
  values: Set<number>;
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/** A field's text and, computed independently of the parser, the values it means. */
function fieldArb(min: number, max: number, names?: readonly string[], dow = false) {
  const name = (v: number, useName: boolean) =>
    useName && names
      ? (dow && v === 7 ? "sun" : names[v - min]?.toLowerCase() ?? String(v))
      : String(v);
  const top = dow ? 6 : max;
  const item = fc.oneof(
    fc.tuple(fc.integer({ min, max }), fc.boolean()).map(([v, n]) => ({
      text: name(v, n),
      values: [dow && v === 7 ? 0 : v],
    })),
    fc.tuple(
      fc.integer({ min, max: top }),
      fc.integer({ min, max: top }),
      fc.integer({ min: 1, max: 4 }),
    )
      .map(([a, b, step]) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const values: number[] = [];
        for (let v = lo; v <= hi; v += step) values.push(v);
        return { text: `${lo}-${hi}${step > 1 ? `/${step}` : ""}`, values };
      }),
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<Field>({ text: "*", values: range(min, top) }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 2, max: Math.min(15, top) }).map((step): Field => ({
        text: `*/${step}`,
        values: new Set([...range(min, top)].filter((v) => (v - min) % step === 0)),
      })),
    },
    {
      weight: 3,
      arbitrary: fc.array(item, { minLength: 1, maxLength: 4 }).map((items): Field => ({
        text: items.map((i) => i.text).join(","),
        values: new Set(items.flatMap((i) => i.values)),
      })),
    },
  );
}

function range(min: number, max: number): Set<number> {
  const out = new Set<number>();
  for (let v = min; v <= max; v++) out.add(v);
  return out;
}

const ZONES = [
  "UTC",
  "America/New_York",
  "Europe/Berlin",
  "Australia/Lord_Howe",
  "Asia/Kathmandu",
  "Pacific/Chatham",
];
/** Starts near clock changes of 2026 (and anywhere in the year). */
const STARTS = [
  Date.UTC(2026, 2, 8, 5),
  Date.UTC(2026, 10, 1, 4),
  Date.UTC(2026, 2, 28, 23),
  Date.UTC(2026, 9, 24, 23),
  Date.UTC(2026, 3, 4, 13),
  Date.UTC(2026, 8, 26, 12),
];
/** Bound of the scan, in minutes (two days). */
const SCAN = 2 * 24 * 60;

Deno.test("property: nextAfter() equals a minute-by-minute scan, in several zones", () => {
  const expr = fc.record({
    minute: fieldArb(0, 59),
    hour: fieldArb(0, 23),
    dom: fc.oneof(
      { weight: 3, arbitrary: fc.constant<Field>({ text: "*", values: range(1, 31) }) },
      { weight: 1, arbitrary: fieldArb(1, 31) },
    ),
    month: fc.oneof(
      { weight: 3, arbitrary: fc.constant<Field>({ text: "*", values: range(1, 12) }) },
      { weight: 1, arbitrary: fieldArb(1, 12, MONTHS) },
    ),
    dow: fieldArb(0, 7, DAYS, true),
  });
  const start = fc.oneof(
    fc.tuple(fc.constantFrom(...STARTS), fc.integer({ min: -180, max: 180 }))
      .map(([s, m]) => s + m * 60_000 + 17_000),
    fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 0, 1) }),
  );
  fc.assert(
    fc.property(expr, start, fc.constantFrom(...ZONES), (e, after, tz) => {
      const text = [e.minute, e.hour, e.dom, e.month, e.dow].map((f) => f.text).join(" ");
      let schedule;
      try {
        schedule = parseCron(text);
      } catch (error) {
        // Only an impossible day of month may be refused.
        assert.match((error as Error).message, /never occurs/, text);
        return;
      }
      const either = !e.dom.text.startsWith("*") && !e.dow.text.startsWith("*");
      const dayOk = (y: number, mo: number, d: number) => {
        if (!e.month.values.has(mo)) return false;
        const dom = e.dom.values.has(d);
        const dow = e.dow.values.has(new Date(Date.UTC(y, mo - 1, d)).getUTCDay());
        return either ? dom || dow : dom && dow;
      };
      const expected = bruteForce(
        after,
        tz,
        (w) =>
          e.minute.values.has(w.minute) && e.hour.values.has(w.hour) &&
          dayOk(w.year, w.month, w.day),
      );
      const got = schedule.nextAfter(new Date(after), tz)?.getTime() ?? null;
      if (expected !== null) {
        assert.equal(got, expected, `${text} after ${new Date(after).toISOString()} in ${tz}`);
      } else assert.ok(got === null || got > after + SCAN * 60_000, `${text} in ${tz}`);
    }),
    { numRuns: 120 },
  );
});

type Wall = ReturnType<typeof wallTime>;

/** The first minute-aligned instant after `after` whose local minute matches, at its first occurrence. */
function bruteForce(after: number, tz: string, matches: (w: Wall) => boolean): number | null {
  const first = Math.floor(after / 60_000) * 60_000 + 60_000;
  for (let t = first; t < first + SCAN * 60_000; t += 60_000) {
    const w = wallTime(t, tz);
    if (!matches(w)) continue;
    if (!occurredBefore(t, w, tz)) return t;
  }
  return null;
}

/** Whether the same local minute was shown in the three hours before `t` (a repeated hour). */
function occurredBefore(t: number, w: Wall, tz: string): boolean {
  for (let back = 1; back <= 180; back++) {
    const v = wallTime(t - back * 60_000, tz);
    if (
      v.year === w.year && v.month === w.month && v.day === w.day && v.hour === w.hour &&
      v.minute === w.minute
    ) return true;
  }
  return false;
}
