import assert from "node:assert/strict";
import { isInlinePattern, patternCost } from "./regex_cost.ts";

const L = 10_000;

Deno.test("patternCost() is infinite for a nested variable quantifier", () => {
  assert.equal(patternCost("(a+)+", L), Infinity);
  assert.equal(patternCost("(?:[a-z]*)*", L), Infinity);
});

Deno.test("patternCost() multiplies variable quantifiers in sequence", () => {
  assert.ok(patternCost("\\d+\\d+\\d+", L) >= L ** 3);
  assert.ok(patternCost("[a-z]+[a-z]+", L) >= L ** 2);
  assert.equal(isInlinePattern("\\d+\\d+\\d+", L), false);
  assert.equal(isInlinePattern("[a-z]+[a-z]+", L), false);
});

Deno.test("patternCost() raises an alternation inside a repeated group to the repetition count", () => {
  assert.equal(patternCost("(a|a)*", L), Infinity);
  assert.equal(patternCost("(?:ab|a)+", L), Infinity);
  assert.equal(isInlinePattern("(?:x|y){1,3}", L), true);
});

Deno.test("patternCost() bounds {n,m} by m and an unbounded count by the maximum length", () => {
  assert.ok(patternCost("[a-z]{1,32}", L) < patternCost("[a-z]+", L));
  assert.ok(patternCost("[a-z]+", 100) < patternCost("[a-z]+", L));
  assert.equal(isInlinePattern("(?:[a-z]{1,8}){1,4}", L), true);
  assert.equal(isInlinePattern("(?:[a-z]{1,8})+", L), false);
});

Deno.test("patternCost() treats lookarounds and backreferences as unknown: never inline", () => {
  for (const p of ["(?=a)a", "(?!b)a", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?<x>a)\\k<x>"]) {
    assert.equal(patternCost(p, L), Infinity, p);
    assert.equal(isInlinePattern(p, 1), false, p);
  }
});

Deno.test("patternCost() is not confused by (, |, + inside classes and escapes", () => {
  // Inside a class or escaped, these are characters, not groups or quantifiers.
  for (
    const p of [
      "[(|+]{1,5}",
      "\\(\\|\\+",
      "[\\]()]{1,9}",
      "\\d{3}\\(x\\)",
      "[+*?]x",
      "\\u{1F600}{2}",
    ]
  ) {
    assert.ok(patternCost(p, L) <= 3 * L, p);
  }
  // An escaped `+` is no quantifier: one `a+`, not two.
  assert.equal(isInlinePattern("a+\\+b", L), true);
  assert.equal(isInlinePattern("a+a+", L), false);
});

Deno.test("patternCost() lets a separator outside a repetition's set end it", () => {
  assert.equal(isInlinePattern("[a-z0-9-]+/[a-z0-9-]+", L), true);
  // `.` and `/` overlap: the split is ambiguous, so the quantifiers multiply.
  assert.equal(isInlinePattern(".+/.+", L), false);
  assert.equal(isInlinePattern("[a-z/]+/[a-z]+", L), false);
});

Deno.test("patternCost() of an unparseable or unsupported pattern is infinite", () => {
  assert.equal(patternCost("(?i:a)", L), Infinity);
  assert.equal(patternCost("a)", L), Infinity);
});
