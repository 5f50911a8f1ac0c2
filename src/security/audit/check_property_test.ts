/**
 * Property: whatever single damage an attacker who can edit the log (but not
 * read the signing key) applies to a real log, `checkAuditLog()` reports it
 * with the right kind, or the damage falls in the documented limit (records
 * after the last checkpoint, cut or rewritten: only a later exported
 * checkpoint covers them). `docs/security-requirements.md`, AUD-10.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { AuditLog } from "./log.ts";
import { checkAuditLog } from "./check.ts";
import { CHECKPOINT_FILE_NAME, LOG_ID_FILE_NAME, parseCheckpointLine } from "./checkpoint.ts";
import {
  joinLines,
  resealFrom,
  sampleEntry,
  splitLines,
  tempDir,
  writeCheckpointedLog,
} from "./_testing.ts";

const DECODER = new TextDecoder();
const ENCODER = new TextEncoder();
const RECORDS = 120;
/** Records appended after the last checkpoint: the known limit lives there. */
const UNCOVERED = 10;

type Damage =
  | { kind: "modify"; at: number; text: string }
  | { kind: "delete"; at: number }
  | { kind: "swap"; a: number; b: number }
  | { kind: "truncate"; keep: number }
  | { kind: "tear"; cut: number }
  | { kind: "rewrite"; from: number; text: string };

/** A field of record `line` changed, its stored hash kept. */
function modifyLine(line: Uint8Array, text: string): Uint8Array {
  const { hash, ...record } = JSON.parse(DECODER.decode(line));
  record.client = `${String(record.client)}${text}`;
  const body = JSON.stringify(Object.fromEntries(Object.entries(record).sort()));
  return ENCODER.encode(`${body.slice(0, -1)},"hash":"${hash}"}`);
}

Deno.test("checkAuditLog() reports every random damage with its kind, except after the last checkpoint (property)", async () => {
  await using tmp = await tempDir();
  const base = await writeCheckpointedLog(tmp.path, RECORDS, 20);
  {
    // Records no checkpoint covers (as a writer killed before its next one leaves).
    await using plain = await AuditLog.open(base.dir);
    for (let i = 0; i < UNCOVERED; i++) await plain.append(sampleEntry(1000 + i));
  }
  const lines = splitLines(await Deno.readFile(join(base.dir, "audit.jsonl")));
  const n = lines.length;
  assert.equal(n, RECORDS + UNCOVERED);
  const checkpointText = await Deno.readTextFile(join(base.dir, CHECKPOINT_FILE_NAME));
  const lastCheckpoint = Math.max(
    ...checkpointText.trimEnd().split("\n").map((l) => {
      const parsed = parseCheckpointLine(l);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.value.checkpoint.size;
    }),
  );
  assert.equal(lastCheckpoint, RECORDS);
  const logId = await Deno.readFile(join(base.dir, LOG_ID_FILE_NAME));
  const runDir = join(tmp.path, "run");
  await Deno.mkdir(runDir);
  await Deno.writeTextFile(join(runDir, CHECKPOINT_FILE_NAME), checkpointText);
  await Deno.writeFile(join(runDir, LOG_ID_FILE_NAME), logId);
  const whole = joinLines(lines);

  const index = fc.integer({ min: 0, max: n - 1 });
  const damage: fc.Arbitrary<Damage> = fc.oneof(
    fc.record({
      kind: fc.constant("modify" as const),
      at: index,
      text: fc.string({ minLength: 1 }),
    }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.integer({ min: 0, max: n - 2 }) }),
    fc.tuple(index, index).filter(([a, b]) => a !== b).map(([a, b]) => ({
      kind: "swap" as const,
      a: Math.min(a, b),
      b: Math.max(a, b),
    })),
    fc.record({ kind: fc.constant("truncate" as const), keep: fc.integer({ min: 0, max: n - 1 }) }),
    fc.record({ kind: fc.constant("tear" as const), cut: fc.integer({ min: 1, max: 200 }) }),
    fc.record({
      kind: fc.constant("rewrite" as const),
      from: index,
      text: fc.string({ minLength: 1 }),
    }),
  );

  await fc.assert(
    fc.asyncProperty(damage, async (d) => {
      let bytes: Uint8Array;
      switch (d.kind) {
        case "modify":
          bytes = joinLines(lines.map((l, i) => i === d.at ? modifyLine(l, d.text) : l));
          break;
        case "delete":
          bytes = joinLines(lines.filter((_, i) => i !== d.at));
          break;
        case "swap": {
          const copy = lines.slice();
          [copy[d.a], copy[d.b]] = [copy[d.b], copy[d.a]];
          bytes = joinLines(copy);
          break;
        }
        case "truncate":
          bytes = joinLines(lines.slice(0, d.keep));
          break;
        case "tear":
          // Cut inside the last line, never at its end: a torn write.
          bytes = whole.subarray(0, whole.length - 1 - Math.min(d.cut, lines[n - 1].length));
          break;
        case "rewrite":
          bytes = joinLines(
            resealFrom(lines, d.from, (r) => (r.client = `${String(r.client)}${d.text}`)),
          );
          break;
      }
      await Deno.writeFile(join(runDir, "audit.jsonl"), bytes);
      const report = await checkAuditLog(runDir, { trustedKeys: [base.trusted] });
      const first = report.verdicts.find((v) => v.severity === "failure");
      const seen = `${d.kind}: ${JSON.stringify(report.verdicts)}`;
      switch (d.kind) {
        case "modify":
          assert.equal(first?.kind, "modified", seen);
          assert.equal(first?.seq, d.at + 1, seen);
          break;
        case "delete":
          assert.equal(first?.kind, "deleted", seen);
          assert.equal(first?.seq, d.at + 1, seen);
          break;
        case "swap":
          assert.equal(first?.kind, "reordered", seen);
          assert.ok(first.seq! >= d.a + 1 && first.seq! <= d.b + 1, seen);
          break;
        case "tear":
          assert.equal(first?.kind, "truncated", seen);
          break;
        case "truncate":
          if (d.keep < lastCheckpoint) {
            assert.equal(first?.kind, "truncated", seen);
            assert.equal(first?.seq, d.keep + 1, seen);
          } else {
            // The known limit: cut records no checkpoint covered.
            assert.equal(report.ok, true, seen);
          }
          break;
        case "rewrite":
          if (d.from + 1 <= lastCheckpoint) {
            assert.equal(first?.kind, "rewritten", seen);
            assert.ok(first.seq! >= d.from + 1, seen);
          } else {
            assert.equal(report.ok, true, seen);
          }
          break;
      }
    }),
    { numRuns: 200 },
  );
});
