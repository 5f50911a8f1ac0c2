import assert from "node:assert/strict";
import { formatDuration, parseDuration, parseSize } from "./units.ts";

Deno.test("parseDuration() reads each unit into milliseconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("1.5m"), 90_000);
  assert.equal(parseDuration("0ms"), 0);
});

Deno.test("parseDuration() takes a bare number, text or not, as seconds", () => {
  assert.equal(parseDuration("2"), 2000);
  assert.equal(parseDuration("0.25"), 250);
  assert.equal(parseDuration(2), 2000);
  assert.equal(parseDuration(0.5), 500);
  assert.equal(parseDuration(0), 0);
});

Deno.test("parseDuration() accepts any letter case and surrounding whitespace", () => {
  assert.equal(parseDuration("2S"), 2000);
  assert.equal(parseDuration("500MS"), 500);
  assert.equal(parseDuration(" 2 s "), 2000);
  assert.equal(parseDuration("\t1H\n"), 3_600_000);
});

Deno.test("parseDuration() rounds text to whole milliseconds", () => {
  assert.equal(parseDuration("0.4ms"), 0);
  assert.equal(parseDuration("1.5ms"), 2);
  assert.equal(parseDuration("0.0015s"), 2);
});

Deno.test("parseDuration() refuses text that is not a duration", () => {
  for (
    const text of [
      "",
      " ",
      "s",
      "-1s",
      "+1s",
      "1d",
      "1 sec",
      "1e3",
      ".5s",
      "5.s",
      "1,5s",
      "1s2",
      "2s 1ms",
      "0x10",
      "Infinity",
      "NaN",
      "١s", // a non-ASCII digit
    ]
  ) {
    assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

Deno.test("parseDuration() refuses a number that is negative or not finite", () => {
  assert.equal(parseDuration(-1), undefined);
  assert.equal(parseDuration(-0.001), undefined);
  assert.equal(parseDuration(NaN), undefined);
  assert.equal(parseDuration(Infinity), undefined);
  assert.equal(parseDuration(-Infinity), undefined);
});

Deno.test("parseDuration() refuses text too long to be a finite number", () => {
  assert.equal(parseDuration(`${"9".repeat(400)}h`), undefined);
});

Deno.test("parseSize() reads each unit into bytes", () => {
  assert.equal(parseSize("65536"), 65536);
  assert.equal(parseSize("7B"), 7);
  assert.equal(parseSize("64KiB"), 65536);
  assert.equal(parseSize("1MiB"), 1024 ** 2);
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize("2KB"), 2000);
  assert.equal(parseSize("10MB"), 10_000_000);
  assert.equal(parseSize("1GB"), 1_000_000_000);
  assert.equal(parseSize("0"), 0);
});

Deno.test("parseSize() accepts any letter case, whitespace and fractions, rounded to bytes", () => {
  assert.equal(parseSize("64kib"), 65536);
  assert.equal(parseSize("1 mib"), 1024 ** 2);
  assert.equal(parseSize(" 10 Mb "), 10_000_000);
  assert.equal(parseSize("1.5KiB"), 1536);
  assert.equal(parseSize("0.5MiB"), 524_288);
  assert.equal(parseSize("1.0001KB"), 1000);
});

Deno.test("parseSize() takes a number as bytes only when it is a safe non-negative integer", () => {
  assert.equal(parseSize(1024), 1024);
  assert.equal(parseSize(0), 0);
  assert.equal(parseSize(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
  assert.equal(parseSize(1.5), undefined);
  assert.equal(parseSize(-1), undefined);
  assert.equal(parseSize(NaN), undefined);
  assert.equal(parseSize(Infinity), undefined);
  assert.equal(parseSize(Number.MAX_SAFE_INTEGER + 1), undefined);
});

Deno.test("parseSize() refuses text that is not a size", () => {
  for (
    const text of [
      "",
      "KiB",
      "-1",
      "-1KiB",
      "1TB",
      "1TiB",
      "1K",
      "1 kibibyte",
      "1e6",
      ".5MiB",
      "1,024",
      "1KiB2",
      "0x400",
      "Infinity",
    ]
  ) {
    assert.equal(parseSize(text), undefined, JSON.stringify(text));
  }
});

Deno.test("parseSize() refuses a size past the largest safe integer", () => {
  assert.equal(parseSize("9007199254740993"), undefined);
  assert.equal(parseSize("9000000GiB"), undefined);
  assert.equal(parseSize(`${"9".repeat(400)}`), undefined);
});

Deno.test("formatDuration() writes milliseconds below a second, seconds from one up", () => {
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(999), "999ms");
  assert.equal(formatDuration(1000), "1s");
  assert.equal(formatDuration(1500), "1.5s");
  assert.equal(formatDuration(61_000), "61s");
  assert.equal(formatDuration(3_600_000), "3600s");
});

Deno.test("formatDuration() keeps at most three decimals of a second", () => {
  assert.equal(formatDuration(1234.5678), "1.235s");
  assert.equal(formatDuration(1000.4), "1s");
});

Deno.test("formatDuration() round-trips through parseDuration() for whole milliseconds", () => {
  for (const ms of [1, 250, 999, 1000, 1500, 2001, 90_000, 86_400_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
});
