import assert from "node:assert/strict";
import { methodAllowed, minimumTier, TIER_METHODS } from "./tiers.ts";
import { HTTP_METHODS } from "./schema.ts";

Deno.test("methodAllowed() allows only GET, HEAD and OPTIONS on tier 1", () => {
  assert.deepEqual(HTTP_METHODS.filter((m) => methodAllowed(1, m)), ["GET", "HEAD", "OPTIONS"]);
  assert.equal(methodAllowed(2, "DELETE"), false);
  assert.equal(methodAllowed(3, "DELETE"), true);
});

Deno.test("TIER_METHODS grows monotonically and tier 4 allows every method", () => {
  for (const tier of [1, 2, 3] as const) {
    for (const method of TIER_METHODS[tier]) {
      assert.ok(methodAllowed((tier + 1) as 2 | 3 | 4, method));
    }
  }
  assert.deepEqual([...TIER_METHODS[4]].sort(), [...HTTP_METHODS].sort());
});

Deno.test("minimumTier() names the lowest tier for each method", () => {
  assert.equal(minimumTier("GET"), 1);
  assert.equal(minimumTier("POST"), 2);
  assert.equal(minimumTier("PATCH"), 2);
  assert.equal(minimumTier("DELETE"), 3);
});
