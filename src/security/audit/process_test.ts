/**
 * Tests with real writer processes (testdata/append_loop.ts): several writers
 * on one log, and kill -9 at random times.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { tempDir } from "./_testing.ts";
import { AuditLog } from "./log.ts";
import { readAuditRecords } from "./query.ts";
import { verifyAuditLog } from "./verify.ts";

const SCRIPT = fileURLToPath(new URL("./testdata/append_loop.ts", import.meta.url));
const CRASH_ITERATIONS = Number(Deno.env.get("LOOM_CRASH_ITERATIONS") ?? 25);

interface Writer {
  readonly process: Deno.ChildProcess;
  /** Resolves once the child has opened the log. */
  readonly ready: Promise<void>;
  /** Resolves with every seq the child acknowledged, once its stdout closes. */
  readonly acknowledged: Promise<number[]>;
}

/** Start an appender; it may only touch `dir`. */
function startWriter(
  dir: string,
  count: number | "forever",
  inFlight: number,
  tag: string,
  start: "now" | "wait" = "now",
): Writer {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      SCRIPT,
      dir,
      String(count),
      String(inFlight),
      tag,
      ...(start === "wait" ? ["wait"] : []),
    ],
    stdin: start === "wait" ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const acknowledged = (async () => {
    const seqs: number[] = [];
    let text = "";
    for await (const chunk of process.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const lines = text.split("\n");
      text = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "ready") markReady();
        else seqs.push(Number(line));
      }
    }
    markReady(); // the child died before opening the log
    return seqs;
  })();
  return { process, ready, acknowledged };
}

async function stderrOf(writer: Writer): Promise<string> {
  return await new Response(writer.process.stderr).text();
}

Deno.test("AuditLog keeps one contiguous chain with two writer processes on the same log", async () => {
  await using dir = await tempDir();
  const writers = [
    startWriter(dir.path, 1000, 8, "first", "wait"),
    startWriter(dir.path, 1000, 8, "second", "wait"),
  ];
  // Both open the log first, then start together: on a loaded machine one
  // child can take longer to start than the other takes to write everything.
  await Promise.all(writers.map((w) => w.ready));
  await Promise.all(writers.map(async (w) => {
    const stdin = w.process.stdin.getWriter();
    await stdin.write(new Uint8Array([10]));
    await stdin.close();
  }));
  const statuses = await Promise.all(writers.map((w) => w.process.status));
  const errors = await Promise.all(writers.map(stderrOf));
  assert.deepEqual(statuses.map((s) => s.code), [0, 0], errors.join("\n"));
  const [first, second] = await Promise.all(writers.map((w) => w.acknowledged));
  assert.equal(first.length, 1000);
  assert.equal(second.length, 1000);
  const all = new Set([...first, ...second]);
  assert.equal(all.size, 2000);

  const report = await verifyAuditLog(dir.path);
  assert.equal(report.ok, true, report.firstBad?.detail);
  assert.equal(report.lastSeq, 2000);
  const records = await readAuditRecords(dir.path);
  assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 2000 }, (_, i) => i + 1));
  for (const seq of first) assert.equal(records[seq - 1].agent, "first");
  for (const seq of second) assert.equal(records[seq - 1].agent, "second");
  // Both really interleaved rather than one after the other.
  const switches = records.filter((r, i) => i > 0 && r.agent !== records[i - 1].agent).length;
  assert.ok(switches > 1, `writers switched ${switches} times`);
});

Deno.test(`AuditLog survives kill -9 during appends (${CRASH_ITERATIONS} iterations): every acknowledged record is kept`, async () => {
  await using dir = await tempDir();
  let recoveries = 0;
  for (let iteration = 0; iteration < CRASH_ITERATIONS; iteration++) {
    const writer = startWriter(dir.path, "forever", 16, `crash-${iteration}`);
    await writer.ready;
    const delay = 10 + Math.floor(Math.random() * 291);
    await new Promise((resolve) => setTimeout(resolve, delay));
    try {
      writer.process.kill("SIGKILL");
    } catch {
      // Already exited (it never should on its own).
    }
    await writer.process.status;
    await writer.process.stderr.cancel();
    const acknowledged = await writer.acknowledged;

    // Restart: opening repairs a torn tail if the kill left one.
    {
      await using log = await AuditLog.open(dir.path);
      if (log.recovery !== null) recoveries++;
    }
    const report = await verifyAuditLog(dir.path);
    assert.equal(report.ok, true, `iteration ${iteration}: ${report.firstBad?.detail}`);
    const records = await readAuditRecords(dir.path, { agent: `crash-${iteration}` });
    const present = new Set(records.map((r) => r.seq));
    for (const seq of acknowledged) {
      assert.ok(present.has(seq), `iteration ${iteration}: acknowledged record ${seq} is missing`);
    }
  }
  const total = await verifyAuditLog(dir.path);
  assert.equal(total.ok, true);
  // Kills land mid-run: records were written; repairs are rare (a kill
  // rarely splits one write), so their count is not asserted.
  assert.ok(total.records > 0);
  assert.ok(recoveries <= CRASH_ITERATIONS);
});
