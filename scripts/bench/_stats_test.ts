import assert from "node:assert/strict";
import { percentile, spread } from "./_stats.ts";

Deno.test("percentile() is nearest-rank over sorted samples", () => {
  const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(xs, 50), 5);
  assert.equal(percentile(xs, 99), 10);
  assert.equal(percentile(xs, 0), 1);
  assert.ok(Number.isNaN(percentile([], 50)));
});

Deno.test("spread() gives median, min and max over finite values only", () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(spread([4, 1, NaN, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.equal(spread([NaN]).n, 0);
});
