import assert from "node:assert/strict";
import { tempDir } from "./_testing.ts";
import { AuditLog } from "./log.ts";
import { readAuditRecords } from "./query.ts";
import { type Refusal, RefusalCoalescer } from "./refusals.ts";
import type { AuditRecord } from "./types.ts";
import { verifyAuditLog } from "./verify.ts";

const R = (
  client: string,
  kind: Refusal["kind"] = "invalid",
  tool: string | null = "t",
): Refusal => ({
  client,
  tool,
  kind,
});

function summaries(records: AuditRecord[]): AuditRecord[] {
  return records.filter((r) => r.event === "refusal_summary");
}

Deno.test("RefusalCoalescer.admit() gives own records within the per-key budget only", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const refusals = new RefusalCoalescer(log, "a", { perKey: 2, now: () => 0 });
  const admitted = Array.from({ length: 5 }, () => refusals.admit(R("c1")));
  assert.deepEqual(admitted, [true, true, false, false, false]);
  // Another kind, another tool, another client: budgets of their own.
  assert.equal(refusals.admit(R("c1", "rate_limit")), true);
  assert.equal(refusals.admit(R("c1", "invalid", "u")), true);
  assert.equal(refusals.admit(R("c2")), true);
  assert.equal(refusals.admit(R("c1", "unknown_tool", null)), true);
  await refusals.close();
  assert.deepEqual(refusals.stats, { admitted: 6, counted: 3, summaries: 1 });
});

Deno.test("RefusalCoalescer.admit() caps own records across all clients in a window", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const refusals = new RefusalCoalescer(log, "a", { perWindow: 10, now: () => 0 });
  let admitted = 0;
  for (let c = 0; c < 50; c++) if (refusals.admit(R(`c${c}`))) admitted++;
  assert.equal(admitted, 10);
  await refusals.close();
  const written = summaries(await readAuditRecords(dir.path));
  assert.deepEqual(written.map((r) => r.refused), [32, 8]);
  assert.deepEqual(written.map((r) => (r.clients as unknown[]).length), [32, 8], "32 per record");
});

Deno.test("RefusalCoalescer writes a window's summary when the next window starts, with its bounds", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  let now = 20_000;
  const refusals = new RefusalCoalescer(log, "agent-a", { perKey: 1, now: () => now });
  for (let i = 0; i < 4; i++) refusals.admit(R("c1"));
  refusals.admit(R("c1", "rate_limit"));
  refusals.admit(R("c1", "rate_limit"));
  now = 30_500;
  assert.equal(refusals.admit(R("c1")), true, "a new window, a new budget");
  await refusals.flush();
  const [first, second] = summaries(await readAuditRecords(dir.path));
  assert.equal(first.agent, "agent-a");
  assert.equal(first.window_start, new Date(20_000).toISOString());
  assert.equal(first.window_end, new Date(30_000).toISOString());
  assert.equal(first.refused, 4);
  assert.deepEqual(first.clients, [
    { client: "c1", refused: 4, counts: { t: { invalid: 3, rate_limit: 1 } } },
  ]);
  assert.equal(second, undefined, "the new window counted nothing");
  await refusals.close();
});

Deno.test("RefusalCoalescer.close() writes the open window's counts: nothing lost on shutdown", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const refusals = new RefusalCoalescer(log, "a", { perKey: 1, now: () => 5 });
  for (let i = 0; i < 1_000; i++) refusals.admit(R("c1", "injection"));
  await refusals.close();
  const [summary] = summaries(await readAuditRecords(dir.path));
  assert.equal(summary.refused, 999);
  assert.equal(summary.window_end, new Date(5).toISOString());
  assert.equal((await verifyAuditLog(dir.path)).ok, true);
});

Deno.test("RefusalCoalescer counts clients past maxClients together and tools past 32 under *", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const refusals = new RefusalCoalescer(log, "a", { perWindow: 1, maxClients: 3, now: () => 0 });
  refusals.admit(R("first"));
  for (let c = 0; c < 10; c++) refusals.admit(R(`c${c}`));
  for (let t = 0; t < 40; t++) refusals.admit(R("c0", "invalid", `tool_${t}`));
  await refusals.close();
  const [summary] = summaries(await readAuditRecords(dir.path));
  const clients = summary.clients as { client: string; refused: number; counts: object }[];
  assert.deepEqual(clients.map((c) => [c.client, c.refused]), [
    ["c0", 41],
    ["c1", 1],
    ["c2", 1],
    ["*", 7],
  ]);
  assert.equal(Object.keys(clients[0].counts).length, 33);
  assert.deepEqual((clients[0].counts as Record<string, object>)["*"], { invalid: 9 });
});

Deno.test("RefusalCoalescer writes a summary from its timer once the window has passed", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  const refusals = new RefusalCoalescer(log, "a", { windowMs: 20, perKey: 1 });
  refusals.admit(R("c1"));
  refusals.admit(R("c1"));
  for (let i = 0; i < 500 && refusals.stats.summaries === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(refusals.stats.summaries, 1);
  await refusals.close();
  assert.equal(summaries(await readAuditRecords(dir.path)).length, 1);
});

Deno.test(
  "RefusalCoalescer keeps a summary it could not write and writes it with the next one",
  { ignore: Deno.build.os !== "linux" },
  async () => {
    await using dir = await tempDir();
    await Deno.symlink("/dev/full", dir.log);
    await using log = await AuditLog.open(dir.path);
    let now = 0;
    const refusals = new RefusalCoalescer(log, "a", { perKey: 1, now: () => now });
    refusals.admit(R("c1"));
    refusals.admit(R("c1"));
    refusals.admit(R("c1"));
    await refusals.flush(); // fails: the disk is full
    assert.equal(refusals.stats.summaries, 0);
    await Deno.remove(dir.log);
    await Deno.writeFile(dir.log, new Uint8Array(), { mode: 0o600 });
    now = 25_000;
    refusals.admit(R("c1"));
    refusals.admit(R("c1"));
    await refusals.close();
    const [kept, current] = summaries(await readAuditRecords(dir.path));
    assert.equal(kept.refused, 2, "the counts of the summary that could not be written");
    assert.equal(kept.window_start, new Date(0).toISOString());
    assert.equal(current.refused, 1);
    assert.equal(current.window_start, new Date(20_000).toISOString());
  },
);

Deno.test("new RefusalCoalescer() refuses budgets that are not positive integers", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  for (
    const options of [{ windowMs: 0 }, { perKey: -1 }, { perWindow: 1.5 }, { maxClients: NaN }]
  ) {
    assert.throws(() => new RefusalCoalescer(log, "a", options), RangeError);
  }
});
