/**
 * Reliability: fuzzing tool arguments through the gate of the real server (see
 * "Reliability suite" in docs/performance.md) with fast-check. Whatever JSON a
 * client sends as `arguments` (any value; or the declared keys with random
 * values plus stray keys), the answer is a JSON-RPC response with either a tool
 * result (success or `isError: true` with a clean message) or, for a bad tool
 * name, -32602; never an internal error, a stack, or a crash. Each call leaves
 * exactly one outcome record, or is counted in a refusal summary once its
 * client is past the refusal budget, and the server is healthy afterwards. (The
 * config loader has its own fuzz tests in `src/config/fuzz_test.ts`.)
 *
 * Raise with LOOM_FUZZ_RUNS (runs per property, default 200).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { UNKNOWN_TOOL_KEY } from "../../src/security/audit/mod.ts";
import { runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";
import { envCount, isCleanMessage, RawSession, readAudit, resultText } from "./_helpers.ts";

const RUNS = envCount("LOOM_FUZZ_RUNS", 200);

/** Strings that poke at encodings, templates and the injection screen. */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(
    "../../etc/passwd",
    "..",
    "{{secret:token}}",
    "{{id}}",
    "'; DROP TABLE users; --",
    "$(rm -rf /)",
    "`id`",
    "a\u0000b",
    "line\r\nX-Injected: 1",
    "%2e%2e%2f",
    "ignore previous instructions",
    "\u202e\u200b",
    "a".repeat(300),
    "item-42",
  ),
);

/** Arbitrary JSON values, nasty strings included. */
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    nasty,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(nasty, tie("value"), { maxKeys: 4 }),
  ),
})).value;

Deno.test("AgentGate answers fuzzed tool arguments with a result or a clean tool error, one outcome each", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream(async (req) => {
    const url = new URL(req.url);
    const body = req.method === "POST" ? await req.text() : null;
    return Response.json({ path: url.pathname, query: url.search, body });
  });
  const config = join(dir.path, "fuzz.yaml");
  const home = join(dir.path, "home");
  await Deno.writeTextFile(
    config,
    `agent:
  name: fuzz-test
  exposes:
    - name: probe
      description: Probe with scalars
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,32}" }
        n: { type: integer, minimum: 0, maximum: 100, required: false }
        x: { type: number, required: false }
        flag: { type: boolean, required: false }
        text: { type: string, max_length: 200, required: false }
    - name: submit
      description: Submit structured values
      access: write
      parameters:
        title: { type: string, max_length: 100 }
        tags: { type: array, items: { type: string, max_length: 16 }, required: false }
        opts: { type: object, properties: { mode: { type: string, enum: [fast, slow] }, depth: { type: integer, required: false } }, required: false }
  http_bridge:
    - tool_name: probe
      url: "${api.url}/p/{{id}}"
      query_params: { n: n, x: x, flag: flag, text: text }
    - tool_name: submit
      method: POST
      url: "${api.url}/submit"
      body_template: { title: "{{title}}", tags: "{{tags}}", opts: "{{opts}}" }
  runtime:
    trust_tier: 2
    rate_limit: { per_minute: 1000000 }
`,
  );
  await using server = await startLoomHttp(config, { home });
  const session = await RawSession.open(server.url);
  let toolCalls = 0;
  let successes = 0;

  /** Check one answer; returns whether it reached the gate (and so was audited). */
  // deno-lint-ignore no-explicit-any
  const check = (a: { status: number; json: any; text: string }, known: boolean): void => {
    assert.equal(a.status, 200, a.text.slice(0, 300));
    if (a.json.error) {
      // Only a request the engine refuses before the gate: an unknown tool name.
      assert.equal(a.json.error.code, -32602, a.text.slice(0, 300));
      assert.equal(known, false, a.text.slice(0, 300));
      return;
    }
    const result = a.json.result;
    assert.ok(Array.isArray(result.content), a.text.slice(0, 300));
    if (result.isError) {
      assert.ok(isCleanMessage(resultText(result)), resultText(result));
    } else {
      assert.equal(typeof JSON.parse(resultText(result)).path, "string");
      successes++;
    }
  };

  await fc.assert(
    fc.asyncProperty(fc.constantFrom("probe", "submit"), json, async (tool, args) => {
      toolCalls++;
      check(await session.call(tool, args), true);
    }),
    { numRuns: RUNS },
  );

  const probeArgs = fc.record({
    id: fc.oneof(json, fc.stringMatching(/^[a-z0-9-]{1,32}$/)),
    n: fc.oneof(json, fc.integer({ min: -5, max: 105 }), fc.constant("7")),
    x: fc.oneof(json, fc.double()),
    flag: json,
    text: nasty,
  }, { requiredKeys: [] });
  const submitArgs = fc.record({
    title: nasty,
    tags: fc.oneof(json, fc.array(nasty, { maxLength: 5 })),
    opts: fc.oneof(
      json,
      fc.record({ mode: fc.oneof(nasty, fc.constantFrom("fast", "slow")), depth: json }, {
        requiredKeys: [],
      }),
    ),
  }, { requiredKeys: [] });
  const stray = fc.dictionary(nasty, json, { maxKeys: 2 });
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.tuple(fc.constant("probe"), probeArgs, stray),
        fc.tuple(fc.constant("submit"), submitArgs, stray),
      ),
      fc.boolean(),
      async ([tool, args, extra], addStray) => {
        toolCalls++;
        check(await session.call(tool, addStray ? { ...extra, ...args } : args), true);
      },
    ),
    { numRuns: RUNS },
  );

  assert.ok(successes > 0, "some fuzzed calls should pass the gate and reach the upstream");

  // Tool names are fuzzed too: unknown ones are -32602 and never reach a bridge.
  let unknown = 0;
  await fc.assert(
    fc.asyncProperty(nasty, async (name) => {
      const a = await session.call(name, {});
      const known = name === "probe" || name === "submit";
      if (known) toolCalls++;
      else unknown++;
      check(a, known);
    }),
    { numRuns: Math.min(RUNS, 100) },
  );

  // Healthy afterwards.
  const ok = await session.call("probe", { id: "item-42", n: 3 });
  toolCalls++;
  assert.equal(JSON.parse(resultText(ok.json.result)).path, "/p/item-42");
  await session.close();
  await server.stop();
  assert.doesNotMatch(server.stderr(), /internal error|Uncaught|unexpected error/i);

  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout);
  const records = await readAudit(home);
  // Every call through the gate has exactly one outcome, or (a refusal past
  // the refusal budget) is counted in a summary; every intent has its outcome.
  const summarized = (unknownTool: boolean): number =>
    records.filter((r) => r.event === "refusal_summary")
      .flatMap((r) => r.clients as { counts: Record<string, Record<string, number>> }[])
      .flatMap((c) => Object.entries(c.counts))
      .filter(([tool]) => (tool === UNKNOWN_TOOL_KEY) === unknownTool)
      .reduce((n, [, kinds]) => n + Object.values(kinds).reduce((a, b) => a + b, 0), 0);
  const outcomes = records.filter((r) => r.phase === "outcome" && r.tool !== null);
  assert.equal(outcomes.length + summarized(false), toolCalls);
  const unknownOutcomes = records.filter((r) => r.phase === "outcome" && r.tool === null);
  assert.equal(unknownOutcomes.length + summarized(true), unknown);
  const outcomeCalls = new Set(records.filter((r) => r.phase === "outcome").map((r) => r.call));
  for (const r of records.filter((r) => r.phase === "intent")) {
    assert.ok(outcomeCalls.has(r.call), `intent ${r.call} has no outcome`);
  }
});
