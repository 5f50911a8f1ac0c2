import assert from "node:assert/strict";
import { type CpuProfile, formatSummary, summarizeProfile } from "./cpuprofile_summary.ts";

/** root -> handler (src/web) -> op_fetch_send (native); root -> (idle); root -> (garbage collector). */
const PROFILE: CpuProfile = {
  nodes: [
    {
      id: 1,
      callFrame: { functionName: "(root)", url: "", lineNumber: -1, columnNumber: -1 },
      children: [2, 4, 5],
    },
    {
      id: 2,
      callFrame: {
        functionName: "handler",
        url: "file:///x/src/web/mcp_http.ts",
        lineNumber: 9,
        columnNumber: 0,
      },
      children: [3],
    },
    {
      id: 3,
      callFrame: { functionName: "op_fetch_send", url: "", lineNumber: -1, columnNumber: -1 },
    },
    { id: 4, callFrame: { functionName: "(idle)", url: "", lineNumber: -1, columnNumber: -1 } },
    {
      id: 5,
      callFrame: { functionName: "(garbage collector)", url: "", lineNumber: -1, columnNumber: -1 },
    },
  ],
  startTime: 0,
  endTime: 10_000,
  // Samples 1 ms apart: handler, op, op, idle, gc, then a last sample with no duration.
  samples: [2, 3, 3, 4, 5, 4],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000],
};

Deno.test("summarizeProfile() charges native frames to their JavaScript caller", () => {
  const s = summarizeProfile(PROFILE);
  assert.equal(s.totalMs, 5);
  assert.equal(s.idleMs, 1);
  assert.equal(s.gcMs, 1);
  assert.deepEqual(s.functions.map((f) => [f.name, f.ms]), [
    ["op_fetch_send", 2],
    ["handler", 1],
    ["(garbage collector)", 1],
  ]);
  assert.deepEqual(s.files.find((f) => f.name === "src/web/mcp_http.ts")?.ms, 3);
  assert.equal(s.stages[0].name, "inbound HTTP: Deno.serve, Hono, /mcp handler");
  assert.equal(s.inclusive[0].name, "handler");
  assert.equal(s.inclusive[0].ms, 3);
  assert.match(formatSummary(s, 3), /1000 µs/);
});

Deno.test("summarizeProfile() keeps only samples inside the window", () => {
  const s = summarizeProfile(PROFILE, { fromMs: 1.5, untilMs: 3.5 });
  // Samples at 2 ms (op) and 3 ms (idle) remain.
  assert.equal(s.totalMs, 2);
  assert.equal(s.idleMs, 1);
});
