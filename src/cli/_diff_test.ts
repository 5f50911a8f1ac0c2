import assert from "node:assert/strict";
import { unifiedDiff } from "./_diff.ts";

Deno.test("unifiedDiff() prints one hunk with three lines of context, removals before additions", () => {
  const before = ["a", "b", "c", "d", "e", "f", "g", "h"].join("\n") + "\n";
  const after = before.replace("e\n", "E\n");
  assert.equal(
    unifiedDiff(before, after, { before: "old", after: "new" }),
    "--- old\n+++ new\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n",
  );
  assert.equal(unifiedDiff(before, before, { before: "old", after: "new" }), "");
});

Deno.test("unifiedDiff() handles an empty side and gives up past the line limit", () => {
  assert.equal(
    unifiedDiff("", "x\n", { before: "old", after: "new" }),
    "--- old\n+++ new\n@@ -0,0 +1 @@\n+x\n",
  );
  const big = "x\n".repeat(2001);
  assert.equal(unifiedDiff(big, big + "y\n", { before: "a", after: "b" }), null);
});
