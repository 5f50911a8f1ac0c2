import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { IntegrityError, LoomError } from "../../errors.ts";
import { rawEntry, sampleEntry, splitLines, stopEvent, tempDir, writeRecords } from "./_testing.ts";
import { AuditLog } from "./log.ts";
import { readAuditRecords } from "./query.ts";
import { type AuditEntryInput, GENESIS_HASH, MAX_RECORD_BYTES } from "./types.ts";
import { verifyAuditLog } from "./verify.ts";

const decoder = new TextDecoder();

function isAuditUnavailable(error: unknown): boolean {
  return error instanceof LoomError && error.code === "AUDIT_UNAVAILABLE";
}

// --- Negative tests first ---------------------------------------------------

Deno.test("AuditLog.append() rejects reserved field names with a TypeError and writes nothing", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  for (const key of ["seq", "ts", "prev", "hash"]) {
    const entry = { event: "tool_call", agent: "a", [key]: 1 } as AuditEntryInput;
    await assert.rejects(log.append(rawEntry(entry)), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.equal(error.message, `Cannot append audit entry: field "${key}" is reserved`);
      return true;
    });
  }
  await log.flush();
  assert.equal((await Deno.readFile(log.path)).length, 0);
});

Deno.test("AuditLog.append() rejects an unknown event, a missing agent, a non-JSON value and an oversized record", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const bad: [unknown, ErrorConstructor | RangeErrorConstructor][] = [
    [{ event: "tool_cal", agent: "a" }, TypeError],
    [{ event: "tool_call", agent: "" }, TypeError],
    [{ event: "tool_call", agent: "a", tool: 5 }, TypeError],
    [{ event: "tool_call", agent: "a", n: Number.NaN }, TypeError],
    [{ event: "tool_call", agent: "a", f: () => 1 }, TypeError],
    [{ event: "tool_call", agent: "a", big: "x".repeat(MAX_RECORD_BYTES) }, RangeError],
    [{ event: "tool_call", agent: "a", big: "é".repeat(MAX_RECORD_BYTES / 2) }, RangeError],
  ];
  for (const [entry, type] of bad) {
    await assert.rejects(log.append(rawEntry(entry as AuditEntryInput)), type);
  }
  // A bad entry does not poison the entries around it.
  const results = await Promise.allSettled([
    log.append(stopEvent()),
    log.append(rawEntry({ event: "agent_lifecycle", agent: "a", seq: 1 })),
    log.append(stopEvent()),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal(log.last.seq, 2);
});

Deno.test("AuditLog.append() after close() rejects with AUDIT_UNAVAILABLE", async () => {
  await using dir = await tempDir();
  const log = await AuditLog.open(dir.path);
  const pending = log.append(stopEvent());
  await log.close();
  assert.equal((await pending).seq, 1); // queued before close: committed
  await assert.rejects(log.append(stopEvent()), (error: unknown) => {
    assert.ok(isAuditUnavailable(error));
    assert.equal((error as Error).message, "Cannot append to audit log: it is closed");
    return true;
  });
  await log.close(); // idempotent
});

Deno.test("AuditLog.open() refuses a second writer for the same directory in one process", async () => {
  await using dir = await tempDir();
  await using _log = await AuditLog.open(dir.path);
  await assert.rejects(AuditLog.open(dir.path), TypeError);
  await assert.rejects(AuditLog.open(join(dir.path, ".")), TypeError);
});

Deno.test(
  "AuditLog.append() rejects with AUDIT_UNAVAILABLE when the write fails, and recovers once the fault clears",
  {
    ignore: Deno.build.os !== "linux",
  },
  async () => {
    await using dir = await tempDir();
    // Every write to /dev/full fails with ENOSPC: a real full disk.
    await Deno.symlink("/dev/full", dir.log);
    await using log = await AuditLog.open(dir.path);
    const results = await Promise.allSettled([
      log.append(rawEntry({ event: "tool_call", agent: "a", phase: "intent" })),
      log.append(rawEntry({ event: "tool_call", agent: "a", phase: "intent" })),
    ]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(isAuditUnavailable(result.reason), String(result.reason));
      assert.equal(result.reason.message, "Cannot append to audit log: write failed");
    }
    assert.equal(log.stats.failures, 1);
    // Still failing: still rejecting, never resolving.
    await assert.rejects(log.append(stopEvent()), isAuditUnavailable);
    // The fault clears (space freed): the writer reopens the file and carries on.
    await Deno.remove(dir.log);
    await Deno.writeFile(dir.log, new Uint8Array(), { mode: 0o600 });
    const receipt = await log.append(stopEvent());
    assert.equal(receipt.seq, 1);
    assert.equal((await verifyAuditLog(dir.path)).ok, true);
  },
);

Deno.test("AuditLog.writable is false after a failed commit until one succeeds, and once closed", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  await using dir = await tempDir();
  await Deno.symlink("/dev/full", dir.log);
  const log = await AuditLog.open(dir.path);
  assert.equal(log.writable, true, "nothing has failed yet");
  await assert.rejects(log.append(stopEvent()), isAuditUnavailable);
  assert.equal(log.writable, false);
  await Deno.remove(dir.log);
  await Deno.writeFile(dir.log, new Uint8Array(), { mode: 0o600 });
  await log.append(stopEvent());
  assert.equal(log.writable, true);
  await log.close();
  assert.equal(log.writable, false);
});

Deno.test("AuditLog.append() fails closed when the log file was deleted while open", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  await log.append(stopEvent());
  await Deno.remove(dir.log);
  await assert.rejects(log.append(stopEvent()), isAuditUnavailable);
  // It does not silently start a new chain in a new file.
  await assert.rejects(log.append(stopEvent()), isAuditUnavailable);
  await assert.rejects(Deno.stat(dir.log), Deno.errors.NotFound);
});

// --- Torn tails ---------------------------------------------------------------

Deno.test("AuditLog.open() repairs a tail torn at any offset inside the last record and records the repair", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 12 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (n, f) => {
        await using dir = await tempDir();
        await writeRecords(dir.path, n);
        const bytes = await Deno.readFile(dir.log);
        const lastStart = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
        // Cut strictly inside the last line: at least one byte kept, newline lost.
        const cut = lastStart + 1 + Math.floor(f * (bytes.length - 1 - lastStart - 1));
        await Deno.truncate(dir.log, cut);

        await using log = await AuditLog.open(dir.path);
        assert.deepEqual(log.recovery && { ...log.recovery, savedAs: "" }, {
          seq: n,
          lastGoodSeq: n - 1,
          bytesRemoved: cut - lastStart,
          savedAs: "",
        });
        assert.equal(log.last.seq, n);
        // The damaged bytes are kept, unchanged, next to the log.
        const saved = await Deno.readFile(join(dir.path, log.recovery?.savedAs ?? ""));
        assert.deepEqual(saved, bytes.subarray(lastStart, cut));
        const after = await Deno.readFile(dir.log);
        assert.deepEqual(after.subarray(0, lastStart), bytes.subarray(0, lastStart));
        const records = await readAuditRecords(dir.path);
        assert.equal(records.length, n);
        assert.deepEqual(
          { ...records[n - 1], ts: "", hash: "", prev: "" },
          {
            seq: n,
            ts: "",
            event: "audit_recovery",
            agent: "loom",
            tool: null,
            action: "recovered_torn_tail",
            bytes_removed: cut - lastStart,
            last_good_seq: n - 1,
            saved_as: log.recovery?.savedAs,
            prev: "",
            hash: "",
          },
        );
        assert.equal(records[n - 1].prev, records[n - 2].hash);
        const receipt = await log.append(stopEvent());
        assert.equal(receipt.seq, n + 1);
        const report = await verifyAuditLog(dir.path);
        assert.equal(report.ok, true, report.firstBad?.detail);
        assert.equal(report.lastSeq, n + 1);
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("AuditLog.open() also cuts a complete last line whose hash does not verify", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 5);
  const bytes = await Deno.readFile(dir.log);
  bytes[bytes.length - 30] ^= 0x01;
  await Deno.writeFile(dir.log, bytes);
  await using log = await AuditLog.open(dir.path);
  assert.equal(log.recovery?.lastGoodSeq, 4);
  assert.equal(log.recovery?.seq, 5);
  assert.equal((await verifyAuditLog(dir.path)).ok, true);
});

Deno.test("AuditLog.open() refuses to cut more than maxRepairBytes and leaves the file untouched", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 3);
  const garbage = new TextEncoder().encode("x".repeat(5000) + "\n" + "y".repeat(5000));
  const original = await Deno.readFile(dir.log);
  await Deno.writeFile(dir.log, garbage, { append: true });
  await assert.rejects(AuditLog.open(dir.path, { maxRepairBytes: 4096 }), (error: unknown) => {
    assert.ok(error instanceof IntegrityError);
    assert.match(error.message, /damaged tail is larger than 4096 bytes/);
    return true;
  });
  assert.equal((await Deno.stat(dir.log)).size, original.length + garbage.length);
  // The directory is free again for a writer with a larger limit.
  await using log = await AuditLog.open(dir.path);
  assert.equal(log.recovery?.bytesRemoved, garbage.length);
});

Deno.test("AuditLog.open() finishes a repair that was interrupted after its record was written", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 4);
  // A repair writes its record over the damage, then cuts the file. A crash
  // between the two leaves the record followed by the rest of the damage.
  const torn = new TextEncoder().encode("z".repeat(3000));
  await Deno.writeFile(dir.log, torn, { append: true });
  const cleanSize = (await Deno.stat(dir.log)).size - torn.length;
  {
    await using log = await AuditLog.open(dir.path);
    assert.equal(log.recovery?.seq, 5);
  }
  const repaired = await Deno.readFile(dir.log);
  await Deno.writeFile(dir.log, torn.subarray(repaired.length - cleanSize), { append: true });
  await using log = await AuditLog.open(dir.path);
  assert.equal(log.recovery?.seq, 6);
  assert.equal(log.recovery?.lastGoodSeq, 5);
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, true, report.firstBad?.detail);
  assert.equal(report.lastSeq, 6);
});

Deno.test("AuditLog.open() repairs a file that holds only a torn first record", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(dir.log, '{"agent":"a","event":"con');
  await using log = await AuditLog.open(dir.path);
  assert.deepEqual({ ...log.recovery, savedAs: "" }, {
    seq: 1,
    lastGoodSeq: 0,
    bytesRemoved: 25,
    savedAs: "",
  });
  const [record] = await readAuditRecords(dir.path);
  assert.equal(record.prev, GENESIS_HASH);
  assert.equal((await verifyAuditLog(dir.path)).ok, true);
});

// --- Positive behaviour ---------------------------------------------------------

Deno.test("AuditLog.open() creates the directory with mode 0700 and the file with mode 0600", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await tempDir();
  const nested = join(dir.path, "home", "audit");
  await using log = await AuditLog.open(nested);
  assert.equal((await Deno.stat(nested)).mode! & 0o777, 0o700);
  assert.equal((await Deno.stat(log.path)).mode! & 0o777, 0o600);
  assert.equal(log.path, join(await Deno.realPath(nested), "audit.jsonl"));
  assert.equal(log.recovery, null);
});

Deno.test("AuditLog.append() writes a chained record with the entry's fields merged in", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const before = Date.now();
  const first = await log.append(rawEntry({
    event: "tool_call",
    agent: "github",
    tool: "list_issues",
    status: "success",
    parameters: { b: 1, a: [true, null] },
    skipped: undefined,
  }));
  const second = await log.append(
    rawEntry({ event: "credential_access", agent: "github", granted: true }),
  );
  assert.deepEqual([first.seq, second.seq], [1, 2]);
  const text = await Deno.readTextFile(log.path);
  const lines = text.split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[2], "");
  const one = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(one), [
    "agent",
    "event",
    "parameters",
    "prev",
    "seq",
    "status",
    "tool",
    "ts",
    "hash",
  ]);
  assert.equal(one.prev, GENESIS_HASH);
  assert.equal(one.hash, first.hash);
  assert.match(one.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Date.parse(one.ts) >= before - 1 && Date.parse(one.ts) <= Date.now());
  assert.deepEqual(one.parameters, { a: [true, null], b: 1 });
  const two = JSON.parse(lines[1]);
  assert.equal(two.tool, null);
  assert.equal(two.prev, first.hash);
  assert.equal(two.hash, second.hash);
  assert.deepEqual(log.last, second);
});

Deno.test("AuditLog.append() resolves only once the record is in the file", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  for (let i = 0; i < 20; i++) {
    const receipt = await log.append(sampleEntry(i));
    // A fresh handle, not the writer's: the bytes are in the file (and synced).
    const lines = splitLines(await Deno.readFile(dir.log));
    assert.equal(lines.length, receipt.seq);
    const record = JSON.parse(decoder.decode(lines[receipt.seq - 1]));
    assert.equal(record.seq, receipt.seq);
    assert.equal(record.hash, receipt.hash);
  }
});

Deno.test("AuditLog.append() commits concurrent appends together (group commit)", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const receipts = await Promise.all(
    Array.from({ length: 100 }, (_, i) => log.append(sampleEntry(i))),
  );
  assert.deepEqual(receipts.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(log.stats.records, 100);
  assert.ok(log.stats.batches <= 2, `batches: ${log.stats.batches}`);
  // Batches are capped.
  await using dir2 = await tempDir();
  await using small = await AuditLog.open(dir2.path, { maxBatchRecords: 10 });
  await Promise.all(Array.from({ length: 100 }, (_, i) => small.append(sampleEntry(i))));
  assert.equal(small.stats.batches, 10);
});

Deno.test("AuditLog.append() with defer waits for the next commit and keeps its place in the chain", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  let settled = false;
  const deferred = log.append(sampleEntry(1), { defer: true }).finally(() => (settled = true));
  // Nothing starts a commit: after several turns of the event loop the file is still empty.
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(settled, false);
  assert.equal((await Deno.readFile(dir.log)).length, 0);
  assert.equal(log.stats.batches, 0);
  // The next plain append commits both, in append order, with one sync.
  const second = await log.append(sampleEntry(2));
  const first = await deferred;
  assert.deepEqual([first.seq, second.seq], [1, 2]);
  assert.equal(log.stats.batches, 1);
});

Deno.test("AuditLog.flush() and close() commit deferred appends", async () => {
  await using dir = await tempDir();
  const log = await AuditLog.open(dir.path);
  const a = log.append(sampleEntry(1), { defer: true });
  await log.flush();
  assert.equal((await a).seq, 1);
  const b = log.append(sampleEntry(2), { defer: true });
  await log.close();
  assert.equal((await b).seq, 2);
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, true);
  assert.equal(report.records, 2);
});

Deno.test("AuditLog keeps one chain: 16 concurrent tasks x 500 appends give seq 1..8000", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    const task = async (t: number): Promise<number[]> => {
      const seqs: number[] = [];
      for (let i = 0; i < 500; i++) {
        seqs.push((await log.append(rawEntry({ event: "tool_call", agent: `agent-${t}`, i }))).seq);
      }
      return seqs;
    };
    const all = (await Promise.all(Array.from({ length: 16 }, (_, t) => task(t)))).flat();
    assert.equal(new Set(all).size, 8000);
  }
  const records = await readAuditRecords(dir.path);
  assert.equal(records.length, 8000);
  let prev = GENESIS_HASH;
  for (let i = 0; i < records.length; i++) {
    assert.equal(records[i].seq, i + 1);
    assert.equal(records[i].prev, prev);
    prev = records[i].hash;
  }
  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, true);
  assert.equal(report.lastSeq, 8000);
  assert.equal(report.lastHash, prev);
});

Deno.test("AuditLog.open() continues the chain of an existing log", async () => {
  await using dir = await tempDir();
  await writeRecords(dir.path, 7);
  await using log = await AuditLog.open(dir.path);
  assert.equal(log.last.seq, 7);
  assert.equal((await log.append(stopEvent())).seq, 8);
  assert.equal((await verifyAuditLog(dir.path)).ok, true);
});
