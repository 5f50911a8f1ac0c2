import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { NotFoundError } from "../../errors.ts";
import { prepareEntry, sealEntry, sha256Hex } from "./_format.ts";
import { joinLines, rawEntry, splitLines, tempDir, writeRecords } from "./_testing.ts";
import { AuditLog } from "./log.ts";
import { GENESIS_HASH } from "./types.ts";
import { verifyAuditLog } from "./verify.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const RECORDS = 1200;

/** The rule the verifier applies to a damaged line: still a JSON object -> modified. */
function damageOf(line: Uint8Array): "modified" | "malformed" {
  const nl = line.indexOf(0x0a);
  const text = decoder.decode(nl < 0 ? line : line.subarray(0, nl));
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? "modified"
      : "malformed";
  } catch {
    return "malformed";
  }
}

Deno.test("verifyAuditLog() names record i and the damage when record i is modified, deleted or swapped", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, RECORDS);
  const lines = splitLines(await Deno.readFile(dir.log));
  assert.equal(lines.length, RECORDS);
  const target = join(dir.path, "mutated.jsonl");

  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("modify" as const),
      i: fc.integer({ min: 1, max: RECORDS }),
      at: fc.nat(),
      delta: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({
      kind: fc.constant("delete" as const),
      i: fc.integer({ min: 1, max: RECORDS - 1 }),
    }),
    fc.record({ kind: fc.constant("swap" as const), i: fc.integer({ min: 1, max: RECORDS - 1 }) }),
  );
  await fc.assert(
    fc.asyncProperty(mutation, fc.boolean(), async (m, parallel) => {
      const mutated = lines.slice();
      let expected: string;
      if (m.kind === "modify") {
        const line = lines[m.i - 1].slice();
        const at = m.at % line.length;
        line[at] = (line[at] + m.delta) % 256;
        mutated[m.i - 1] = line;
        expected = damageOf(line);
      } else if (m.kind === "delete") {
        mutated.splice(m.i - 1, 1);
        expected = "deleted";
      } else {
        [mutated[m.i - 1], mutated[m.i]] = [mutated[m.i], mutated[m.i - 1]];
        expected = "reordered";
      }
      await Deno.writeFile(target, joinLines(mutated));
      const report = await verifyAuditLog(target, { parallel });
      assert.equal(report.ok, false);
      assert.equal(report.firstBad?.seq, m.i, report.firstBad?.detail);
      assert.equal(report.firstBad?.kind, expected, report.firstBad?.detail);
      assert.equal(report.records, m.i - 1);
      assert.equal(report.lastSeq, m.i - 1);
    }),
    { numRuns: 50 },
  );
});

Deno.test("verifyAuditLog() reports chain_broken when a record is rewritten with a fresh hash", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 20);
  const lines = splitLines(await Deno.readFile(dir.log));
  const original = JSON.parse(decoder.decode(lines[9]));
  const forged = sealEntry(
    prepareEntry({ event: "tool_call", agent: "github", tool: "delete_repo" }, original.ts),
    10,
    original.prev,
  );
  lines[9] = encoder.encode(forged.line.trimEnd());
  await Deno.writeFile(dir.log, joinLines(lines));
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, false);
  assert.deepEqual(report.firstBad, {
    seq: 11,
    line: 11,
    kind: "chain_broken",
    detail: 'Cannot verify audit record 11: "prev" does not match the hash of record 10',
  });
  assert.equal(report.lastSeq, 10);
  assert.equal(report.lastHash, forged.hash);
});

Deno.test("verifyAuditLog() reports a repeated record as reordered", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 10);
  const lines = splitLines(await Deno.readFile(dir.log));
  lines.splice(5, 0, lines[4]);
  await Deno.writeFile(dir.log, joinLines(lines));
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.firstBad?.kind, "reordered");
  assert.equal(report.firstBad?.seq, 5);
  assert.equal(report.firstBad?.line, 6);
  assert.match(report.firstBad?.detail ?? "", /record 5: it appears twice/);
});

Deno.test("verifyAuditLog() names the whole missing range when several records are deleted", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 10);
  const lines = splitLines(await Deno.readFile(dir.log));
  lines.splice(3, 4);
  await Deno.writeFile(dir.log, joinLines(lines));
  const report = await verifyAuditLog(dir.path);
  assert.deepEqual(report.firstBad, {
    seq: 4,
    line: 4,
    kind: "deleted",
    detail: "Cannot verify audit record 4: records 4 to 7 are missing",
  });
});

Deno.test("verifyAuditLog() reports a last line without newline as truncated", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 5);
  const bytes = await Deno.readFile(dir.log);
  await Deno.writeFile(dir.log, bytes.subarray(0, bytes.length - 40));
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, false);
  assert.equal(report.firstBad?.kind, "truncated");
  assert.equal(report.firstBad?.seq, 5);
  assert.equal(report.firstBad?.line, 5);
  assert.equal(report.records, 4);

  // Only the newline missing is still a torn write.
  await Deno.writeFile(dir.log, bytes.subarray(0, bytes.length - 1));
  assert.equal((await verifyAuditLog(dir.path)).firstBad?.kind, "truncated");
});

Deno.test("verifyAuditLog() reports blank and garbage lines as malformed", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 5);
  const lines = splitLines(await Deno.readFile(dir.log));
  for (const junk of ["", "not json at all", "[1,2,3]"]) {
    const mutated = lines.slice();
    mutated.splice(2, 0, encoder.encode(junk));
    await Deno.writeFile(dir.log, joinLines(mutated));
    const report = await verifyAuditLog(dir.path);
    assert.equal(report.firstBad?.kind, "malformed", junk);
    assert.equal(report.firstBad?.seq, 3);
    assert.equal(report.firstBad?.line, 3);
  }
});

Deno.test("verifyAuditLog() reports a first record whose prev is not genesis", async () => {
  await using dir = await tempDir();
  const forged = sealEntry(
    prepareEntry({ event: "agent_lifecycle", agent: "loom" }, new Date().toISOString()),
    1,
    "f".repeat(64),
  );
  await Deno.writeTextFile(dir.log, forged.line);
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.firstBad?.kind, "chain_broken");
  assert.equal(report.firstBad?.seq, 1);
});

Deno.test("verifyAuditLog() cannot detect removal of the last records (checkpoints will)", async () => {
  // Documents the limit of a plain chain (docs/security-requirements.md, AUD-10).
  await using dir = await tempDir();
  await writeRecords(dir.path, 10);
  const lines = splitLines(await Deno.readFile(dir.log));
  await Deno.writeFile(dir.log, joinLines(lines.slice(0, 7)));
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, true);
  assert.equal(report.lastSeq, 7);
});

Deno.test("verifyAuditLog() accepts a log whose fields nest keys named seq, prev and hash", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    let last = GENESIS_HASH;
    for (let i = 0; i < 6; i++) {
      const receipt = await log.append(rawEntry({
        event: "sandbox_lifecycle",
        agent: "a",
        // Sorts before "prev" and "seq", so the textual look sees these first.
        details: { seq: 99, prev: last, hash: "0".repeat(64), note: '"seq":7,"prev":"x"' },
        hash_of_args: "hmac-sha256:00",
        'odd"seq': 1,
        unicode: "naïve ☃ 😀 \u2028",
      }));
      last = receipt.hash;
    }
  }
  for (const parallel of [false, true]) {
    const report = await verifyAuditLog(dir.path, { parallel });
    assert.equal(report.ok, true, report.firstBad?.detail);
    assert.equal(report.records, 6);
  }
  const strict = await verifyAuditLog(dir.path, { strict: true });
  assert.equal(strict.ok, true, strict.firstBad?.detail);
});

Deno.test("verifyAuditLog() detects a modified byte inside a multi-byte character", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    for (let i = 0; i < 4; i++) {
      await log.append(rawEntry({ event: "agent_lifecycle", agent: "a", note: "☃☃☃" }));
    }
  }
  const bytes = await Deno.readFile(dir.log);
  const lines = splitLines(bytes);
  const at = lines[2].indexOf(0xe2); // first byte of the snowman in record 3
  lines[2][at + 1] ^= 0x01;
  await Deno.writeFile(dir.log, joinLines(lines));
  for (const parallel of [false, true]) {
    const report = await verifyAuditLog(dir.path, { parallel });
    assert.equal(report.firstBad?.kind, "modified");
    assert.equal(report.firstBad?.seq, 3);
  }
});

Deno.test("verifyAuditLog() strict mode rejects a non-canonical line that the default check accepts", async () => {
  await using dir = await tempDir();
  // Keys out of order, hashed over its own text.
  const body = `{"seq":1,"prev":"${GENESIS_HASH}","event":"config","agent":"a","tool":null,` +
    `"ts":"2026-01-01T00:00:00.000Z"}`;
  const line = body.slice(0, -1) + `,"hash":"${sha256Hex(body)}"}\n`;
  await Deno.writeTextFile(dir.log, line);
  assert.equal((await verifyAuditLog(dir.path)).ok, true);
  const strict = await verifyAuditLog(dir.path, { strict: true });
  assert.equal(strict.ok, false);
  assert.equal(strict.firstBad?.kind, "malformed");
  assert.match(strict.firstBad?.detail ?? "", /not in canonical form/);
});

Deno.test("verifyAuditLog() reports progress and the head of an intact log", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 300);
  const progress: number[] = [];
  const report = await verifyAuditLog(dir.path, {
    onProgress: (p) => progress.push(p.bytes),
  });
  const size = (await Deno.stat(dir.log)).size;
  assert.equal(report.ok, true);
  assert.equal(report.records, 300);
  assert.equal(report.lastSeq, 300);
  const lines = splitLines(await Deno.readFile(dir.log));
  assert.equal(report.lastHash, JSON.parse(decoder.decode(lines[299])).hash);
  assert.equal(progress.at(-1), size);
  // The file path works as well as the directory.
  assert.deepEqual(await verifyAuditLog(dir.log), report);
});

Deno.test("verifyAuditLog() accepts an empty log and throws NotFoundError without one", async () => {
  await using dir = await tempDir();
  await assert.rejects(verifyAuditLog(dir.path), NotFoundError);
  await assert.rejects(verifyAuditLog(join(dir.path, "nope")), NotFoundError);
  await Deno.writeFile(dir.log, new Uint8Array());
  assert.deepEqual(await verifyAuditLog(dir.path), {
    ok: true,
    records: 0,
    lastSeq: 0,
    lastHash: GENESIS_HASH,
  });
});

Deno.test("verifyAuditLog() checks a log larger than one chunk on a worker and finds damage in a later chunk", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 60_000); // about 13 MiB: four chunks, worker by default
  const bytes = await Deno.readFile(dir.log);
  assert.ok(bytes.length > 8 * 1024 * 1024);
  assert.equal((await verifyAuditLog(dir.path)).records, 60_000);
  const lines = splitLines(bytes);
  lines[45_000][20] ^= 0x01;
  await Deno.writeFile(dir.log, joinLines(lines));
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.firstBad?.kind, "modified");
  assert.equal(report.firstBad?.seq, 45_001);
  assert.equal(report.records, 45_000);
});

Deno.test("verifyAuditLog() relies on latin1 decoding one byte to one UTF-16 unit", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = new TextDecoder("latin1").decode(all);
  assert.equal(text.length, 256);
  assert.equal(text.indexOf("\n"), 0x0a);
});

Deno.test("verifyAuditLog() verifies a live log while a writer appends", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  let writing = true;
  const writers = Promise.all(
    Array.from({ length: 8 }, async (_, t) => {
      for (let i = 0; i < 150; i++) {
        await log.append(rawEntry({ event: "tool_call", agent: `w${t}`, i, pad: "p".repeat(i) }));
      }
    }),
  ).finally(() => (writing = false));
  let runs = 0;
  while (writing) {
    const report = await verifyAuditLog(dir.path);
    assert.equal(report.ok, true, report.firstBad?.detail);
    runs++;
  }
  await writers;
  assert.ok(runs > 0);
  assert.equal((await verifyAuditLog(dir.path)).lastSeq, 1200);
});
