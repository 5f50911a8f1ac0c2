import assert from "node:assert/strict";
import type { ParamSpec } from "../../config/mod.ts";
import { withinDeadline } from "../../../tests/_helpers.ts";
import { anchorPattern, compiledPattern } from "./_pattern.ts";

function spec(pattern: string): ParamSpec {
  return { type: "string", required: true, allow: [], pattern };
}

/** Strings a caller controls, at the 10,000-character default cap, built to make a regex backtrack. */
const HOSTILE = [
  "a".repeat(10_000),
  "a".repeat(9_999) + "!",
  "-".repeat(9_999) + "/",
  "a/".repeat(5_000),
  "a".repeat(5_000) + "/" + "a".repeat(4_998) + "!",
  " ".repeat(9_999) + "!",
  "0.".repeat(4_999) + "x",
  "A ".repeat(4_999) + "1",
  "\u{1F600}".repeat(5_000),
];

Deno.test("compiledPattern() anchors the pattern to the whole string in unicode mode", () => {
  const re = compiledPattern(spec("[a-z]+|[0-9]+"));
  assert.equal(re.source, anchorPattern("[a-z]+|[0-9]+"));
  assert.equal(re.flags, "u");
  assert.equal(re.test("abc1"), false);
});

Deno.test("compiledPattern() compiles once per parameter spec", () => {
  const one = spec("[a-z]+");
  assert.equal(compiledPattern(one), compiledPattern(one));
  assert.notEqual(compiledPattern(one), compiledPattern(spec("[a-z]+")));
});

Deno.test("compiledPattern() of the patterns LOOM's configs use finishes on 10,000-character hostile input", async () => {
  // The patterns of the bench, end-to-end and loader tests' configs. A match
  // runs on the gate's thread; one that backtracks without end stalls every
  // call, so each runs in a worker that is terminated at the deadline.
  const patterns = [
    "[a-z0-9-]{1,32}",
    "[a-z0-9-]{1,64}",
    "[A-Za-z ]{1,40}",
    "^[a-z ]+$",
    "^[0-9.]+$",
    "[a-z0-9-]+/[a-z0-9-]+",
  ];
  for (const pattern of patterns) {
    const re = compiledPattern(spec(pattern));
    const results = await withinDeadline(`Pattern ${JSON.stringify(pattern)}`, {
      kind: "match",
      source: re.source,
      flags: re.flags,
      inputs: HOSTILE,
    });
    assert.equal(results.length, HOSTILE.length);
  }
});

Deno.test("withinDeadline() fails a catastrophically backtracking pattern instead of hanging", async () => {
  // `(a+)+` against a run of "a" that cannot match backtracks through every
  // split of the run: 2^40 paths, far past any deadline. The worker must be
  // terminated (the sanitizers check nothing is left running).
  const re = compiledPattern(spec("(a+)+"));
  await assert.rejects(
    withinDeadline('Pattern "(a+)+"', {
      kind: "match",
      source: re.source,
      flags: re.flags,
      inputs: ["aaaa", "a".repeat(40) + "!"],
    }, 1_000),
    {
      message: 'Pattern "(a+)+" did not finish within 1000 ms: stuck on input 2 of 2 ' +
        "(catastrophic backtracking?); the worker was terminated",
    },
  );
});
