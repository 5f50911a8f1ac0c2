/**
 * `deno run -A --config deno.dev.json scripts/crash_audit.ts [ROUNDS] [CLIENTS]`:
 * kill `loom run --transport http` with SIGKILL under load ROUNDS times
 * (default 200, 6 clients), restarting it on the same LOOM_HOME, and check
 * after each kill that `loom audit verify` (with every checkpoint exported in
 * earlier rounds) passes and every answered call is on record
 * (`tests/reliability/_crash_audit.ts`). Prints one line per failed round and
 * a summary; exits 1 when any round failed.
 *
 * @module
 */

import { crashBench } from "../tests/reliability/_crash_audit.ts";

const rounds = Number(Deno.args[0] ?? 200);
const clients = Number(Deno.args[1] ?? 6);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(clients) || clients < 1) {
  console.error("usage: crash_audit.ts [ROUNDS] [CLIENTS]");
  Deno.exit(64);
}

let failed = 0;
let answered = 0;
let withCheckpoint = 0;
let warnings = 0;
let records = 0;
let lastSeq: number | null = null;
const started = performance.now();
{
  await using bench = await crashBench();
  for (let round = 1; round <= rounds; round++) {
    const result = await bench.round(round, clients);
    answered += result.answered;
    records = result.records;
    warnings += result.warnings.length;
    if (result.lastCheckpointSeq !== null) withCheckpoint++;
    lastSeq = result.lastCheckpointSeq;
    if (result.failure !== null) {
      failed++;
      console.log(`round ${round}: FAILED: ${result.failure}`);
    }
    if (round % 10 === 0) {
      console.log(`round ${round}/${rounds}: ${failed} failed, ${answered} calls answered`);
    }
  }
}
const seconds = ((performance.now() - started) / 1000).toFixed(0);
console.log(
  `crash_audit: ${rounds} rounds in ${seconds} s, ${failed} failed; ${answered} calls answered ` +
    `before a kill, all on record: ${failed === 0}; ${records} records in the final log, ` +
    `last checkpoint at seq ${lastSeq}; ${withCheckpoint} rounds verified with a checkpoint; ` +
    `${warnings} warnings (cadence gaps, torn checkpoint lines)`,
);
Deno.exit(failed === 0 ? 0 : 1);
