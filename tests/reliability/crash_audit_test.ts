/**
 * Reliability: the audit log and its signed checkpoints survive `kill -9` of
 * `loom run --transport http` under load (`_crash_audit.ts`). Two dozen rounds
 * here; `scripts/crash_audit.ts` runs 200 and prints a summary.
 *
 * Set LOOM_RELIABILITY_CRASH_ROUNDS to change the rounds (default 24).
 */

import assert from "node:assert/strict";
import { crashBench } from "./_crash_audit.ts";
import { envCount } from "./_helpers.ts";

const ROUNDS = envCount("LOOM_RELIABILITY_CRASH_ROUNDS", 24);

Deno.test("loom audit verify passes with its checkpoints and earlier exports after each SIGKILL under load", async () => {
  await using bench = await crashBench();
  let checkpointed = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const result = await bench.round(round, 4);
    assert.equal(result.failure, null, `round ${round}: ${result.failure}`);
    if (result.lastCheckpointSeq !== null) checkpointed++;
  }
  // A restart checkpoints what the killed server left: from round 2 on, always.
  assert.ok(checkpointed >= ROUNDS - 1, `only ${checkpointed} rounds had a checkpoint`);
});
