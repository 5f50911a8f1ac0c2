import assert from "node:assert/strict";
import { join } from "node:path";
import { rawEntry, stopEvent, tempDir } from "./_testing.ts";
import { AuditLog } from "./log.ts";
import { auditRecordMatches, readAuditRecords, tailAuditLog } from "./query.ts";
import type { AuditRecord } from "./types.ts";

Deno.test("readAuditRecords() rejects an invalid limit or date", async () => {
  await using dir = await tempDir();
  await assert.rejects(readAuditRecords(dir.path, { limit: 0 }), RangeError);
  await assert.rejects(readAuditRecords(dir.path, { limit: 1.5 }), RangeError);
  await assert.rejects(readAuditRecords(dir.path, { since: new Date("nope") }), TypeError);
  assert.throws(() => tailAuditLog(dir.path, { intervalMs: 0 }), RangeError);
  assert.throws(() => tailAuditLog(dir.path, { last: -1 }), RangeError);
});

Deno.test("readAuditRecords() skips lines that are not records", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    await log.append(stopEvent());
  }
  await Deno.writeTextFile(dir.log, "garbage\n[1]\n", { append: true });
  await Deno.writeTextFile(dir.log, '{"seq":2,"ts":"x","event":"config","agent":"b"}', {
    append: true,
  });
  const records = await readAuditRecords(dir.path);
  assert.deepEqual(records.map((r) => r.seq), [1]);
});

Deno.test("readAuditRecords() filters by event, agent, tool and time and keeps the last N", async () => {
  await using dir = await tempDir();
  const stamps: string[] = [];
  {
    await using log = await AuditLog.open(dir.path);
    for (let i = 0; i < 30; i++) {
      await log.append(rawEntry({
        event: i % 3 === 0 ? "sandbox_lifecycle" : "tool_call",
        agent: i % 2 === 0 ? "github" : "weather",
        tool: i % 5 === 0 ? null : `tool_${i % 4}`,
        i,
        // A nested "event" must not fool the text pre-filter.
        details: { event: "sandbox_lifecycle" },
      }));
      if (i === 9 || i === 19) await new Promise((resolve) => setTimeout(resolve, 15));
    }
  }
  const all = await readAuditRecords(dir.path);
  assert.equal(all.length, 30);
  for (const r of all) stamps.push(r.ts);

  const bridge = await readAuditRecords(dir.path, { event: "sandbox_lifecycle" });
  assert.deepEqual(bridge.map((r) => r.i), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
  const github = await readAuditRecords(dir.path, { agent: "github", tool: "tool_2" });
  assert.deepEqual(github.map((r) => r.i), [2, 6, 14, 18, 22, 26]);
  const lastTwo = await readAuditRecords(dir.path, { agent: "github", tool: "tool_2", limit: 2 });
  assert.deepEqual(lastTwo.map((r) => r.i), [22, 26]);
  const lastOfAll = await readAuditRecords(dir.path, { limit: 3 });
  assert.deepEqual(lastOfAll.map((r) => r.seq), [28, 29, 30]);

  const since = new Date(stamps[10]);
  const until = new Date(stamps[19]);
  const window = await readAuditRecords(dir.path, { since, until });
  assert.ok(window.every((r) => r.ts >= stamps[10] && r.ts <= stamps[19]));
  assert.deepEqual(window.map((r) => r.i), Array.from({ length: 10 }, (_, k) => k + 10));
});

Deno.test("readAuditRecords() reads a missing log or directory as empty", async () => {
  await using dir = await tempDir();
  assert.deepEqual(await readAuditRecords(dir.path), []);
  assert.deepEqual(await readAuditRecords(join(dir.path, "missing")), []);
});

Deno.test("tailAuditLog() yields new records as they are appended and stops on abort", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  await log.append(rawEntry({ event: "agent_lifecycle", agent: "old" }));
  const controller = new AbortController();
  const seen: AuditRecord[] = [];
  const following = (async () => {
    for await (
      const record of tailAuditLog(dir.path, {
        signal: controller.signal,
        last: 1,
        intervalMs: 10,
      })
    ) {
      seen.push(record);
      if (seen.length === 4) controller.abort();
    }
  })();
  // Append only once the follower has taken its place at the end of the file,
  // which it has when it yielded the existing record: a state, not a sleep
  // that a loaded machine can outlast (the appends would then be skipped as
  // old, and the follower would wait for ever).
  for (let i = 0; i < 500 && seen.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (seen.length === 0) controller.abort(); // fail below, leaving nothing running
  assert.deepEqual(seen.map((r) => [r.seq, r.agent]), [[1, "old"]]);
  for (let i = 0; i < 3; i++) await log.append(rawEntry({ event: "tool_call", agent: "new", i }));
  await following;
  const expected = [[1, "old"], [2, "new"], [3, "new"], [4, "new"]];
  assert.deepEqual(seen.map((r) => [r.seq, r.agent]), expected);
});

Deno.test("tailAuditLog() first yields the last N records, then follows", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  for (let i = 0; i < 5; i++) {
    await log.append(rawEntry({ event: "agent_lifecycle", agent: "a", i }));
  }
  const controller = new AbortController();
  const seen: number[] = [];
  const following = (async () => {
    const tail = tailAuditLog(dir.path, { signal: controller.signal, last: 2, intervalMs: 10 });
    for await (const record of tail) {
      seen.push(record.seq);
      if (record.seq === 5) await log.append(stopEvent());
      if (record.seq === 6) break;
    }
  })();
  await following;
  controller.abort();
  assert.deepEqual(seen, [4, 5, 6]);
});

Deno.test("tailAuditLog() waits for a log that does not exist yet", async () => {
  await using dir = await tempDir();
  const controller = new AbortController();
  const seen: number[] = [];
  const following = (async () => {
    for await (
      const record of tailAuditLog(dir.path, { signal: controller.signal, intervalMs: 10 })
    ) {
      seen.push(record.seq);
      controller.abort();
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 30));
  // Had the follower not polled before the record was written, it would wait
  // for ever: stop it after 10 s so the test fails instead of hanging.
  const fallback = setTimeout(() => controller.abort(), 10_000);
  {
    await using log = await AuditLog.open(dir.path);
    await log.append(stopEvent());
  }
  await following;
  clearTimeout(fallback);
  assert.deepEqual(seen, [1]);
});

Deno.test("tailAuditLog() follows a torn-tail repair without repeating records", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    await log.append(stopEvent());
  }
  const controller = new AbortController();
  const seen: AuditRecord[] = [];
  const following = (async () => {
    for await (
      const record of tailAuditLog(dir.path, { signal: controller.signal, intervalMs: 10 })
    ) {
      seen.push(record);
      if (record.event === "audit_recovery") controller.abort();
    }
  })();
  // A torn write, seen by the follower, then repaired (the file shrinks).
  await Deno.writeTextFile(dir.log, "x".repeat(4000), { append: true });
  await new Promise((resolve) => setTimeout(resolve, 40));
  const fallback = setTimeout(() => controller.abort(), 10_000); // fail, never hang
  {
    await using _log = await AuditLog.open(dir.path);
  }
  await following;
  clearTimeout(fallback);
  assert.deepEqual(seen.map((r) => [r.seq, r.event]), [[2, "audit_recovery"]]);
});

Deno.test("readAuditRecords() finds one record by seq; auditRecordMatches() applies the same filter", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    for (let i = 0; i < 12; i++) await log.append(stopEvent(i % 2 === 0 ? "a" : "b"));
  }
  assert.deepEqual((await readAuditRecords(dir.path, { seq: 1 })).map((r) => r.seq), [1]);
  assert.deepEqual((await readAuditRecords(dir.path, { seq: 11 })).map((r) => r.seq), [11]);
  assert.deepEqual(await readAuditRecords(dir.path, { seq: 13 }), []);
  const [eleven] = await readAuditRecords(dir.path, { seq: 11 });
  assert.equal(auditRecordMatches(eleven, { agent: "a" }), true);
  assert.equal(auditRecordMatches(eleven, { agent: "b" }), false);
  assert.equal(auditRecordMatches(eleven, { seq: 11, event: eleven.event }), true);
  assert.equal(auditRecordMatches(eleven, { until: new Date(0) }), false);
  assert.throws(() => auditRecordMatches(eleven, { since: new Date(NaN) }), TypeError);
});
