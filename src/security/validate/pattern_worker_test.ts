import assert from "node:assert/strict";
import { PATTERN_DEADLINE_MS, PatternWorker } from "./pattern_worker.ts";
import { anchorPattern } from "./_pattern.ts";

const NESTED = anchorPattern("(a+)+");

Deno.test("PatternWorker.check() answers match and mismatch with the first failing index", async () => {
  const worker = new PatternWorker();
  try {
    assert.deepEqual(await worker.check([{ source: NESTED, text: "aaa" }]), { ok: true });
    assert.deepEqual(
      await worker.check([
        { source: NESTED, text: "aa" },
        { source: anchorPattern("[0-9]+"), text: "12x" },
      ]),
      { ok: false, index: 1, reason: "mismatch" },
    );
  } finally {
    worker.close();
  }
});

Deno.test("PatternWorker.check() terminates a worker stuck past the deadline and works again after", async () => {
  // Sanitizers are on: the stuck worker must be terminated, its timer cleared.
  const worker = new PatternWorker();
  try {
    assert.equal(PATTERN_DEADLINE_MS, 100);
    const stuck = worker.check([
      { source: NESTED, text: "aaaa" },
      { source: NESTED, text: "a".repeat(10_000) + "!" },
    ]);
    // Queued behind the stuck check; runs on a fresh worker.
    const queued = worker.check([{ source: NESTED, text: "aaaa" }]);
    assert.deepEqual(await stuck, { ok: false, index: 1, reason: "timeout" });
    assert.deepEqual(await queued, { ok: true });
    assert.deepEqual(await worker.check([{ source: NESTED, text: "ab" }]), {
      ok: false,
      index: 0,
      reason: "mismatch",
    });
  } finally {
    worker.close();
  }
});

Deno.test("PatternWorker.close() refuses waiting checks and later ones", async () => {
  const worker = new PatternWorker();
  const pending = worker.check([{ source: NESTED, text: "a".repeat(10_000) + "!" }]);
  worker.close();
  await assert.rejects(pending, { message: "Cannot check a pattern: worker closed" });
  await assert.rejects(worker.check([{ source: NESTED, text: "a" }]), {
    message: "Cannot check a pattern: worker closed",
  });
});
