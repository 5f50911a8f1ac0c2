import assert from "node:assert/strict";
import { withinDeadline } from "../../../tests/_helpers.ts";
import type { HostileCallReport } from "../../../tests/fixtures/pattern_gate.ts";

const FIXTURE = new URL("../../../tests/fixtures/pattern_gate.ts", import.meta.url).href;

async function run(pattern: string, hostile: string, good: string): Promise<HostileCallReport> {
  // The gate runs in a worker terminated at the deadline: a match that holds
  // the gate's thread fails this test instead of hanging the suite.
  const [report] = await withinDeadline(`A call with pattern ${JSON.stringify(pattern)}`, {
    kind: "call",
    module: FIXTURE,
    name: "hostileCall",
    calls: [[pattern, hostile, good]],
  }, 30_000);
  return report as HostileCallReport;
}

function assertRefusedMeanwhile(report: HostileCallReport): void {
  assert.equal(report.hostile.isError, true);
  assert.match(
    report.hostile.text,
    /Invalid argument "id": took too long to check against its pattern/,
  );
  assert.deepEqual(report.audited, {
    status: "invalid",
    field: "id",
    error: 'Invalid argument "id": took too long to check against its pattern',
  });
  assert.equal(report.other.isError, false);
  assert.equal(report.otherFinishedFirst, true);
  assert.equal(report.after.isError, false);
  assert.deepEqual(report.paths, ["/lookup", "/check"]);
}

Deno.test("AgentGate.callTool() refuses a 10,000-character argument that makes (a+)+ backtrack, and serves another call meanwhile", async () => {
  assertRefusedMeanwhile(await run("(a+)+", "a".repeat(9_999) + "!", "aaa"));
});

Deno.test("AgentGate.callTool() refuses a 10,000-character argument that makes \\d+\\d+\\d+ backtrack, and serves another call meanwhile", async () => {
  assertRefusedMeanwhile(await run("\\d+\\d+\\d+", "1".repeat(9_999) + "x", "123"));
});

Deno.test("AgentGate.callTool() refuses a non-matching argument of an off-thread pattern as it does inline", async () => {
  const report = await run("(a|b)*c", "abd", "abc");
  assert.equal(report.hostile.isError, true);
  assert.match(report.hostile.text, /Invalid argument "id": must match the pattern "\(a\|b\)\*c"/);
  assert.equal(report.audited?.field, "id");
  assert.equal(report.after.isError, false);
});
