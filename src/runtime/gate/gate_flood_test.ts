/**
 * A client floods a gate with calls an escalation rule holds (security
 * requirement: overwhelming the human in the loop). Real gate, real state
 * database and audit log, a real loopback upstream; an injected clock (one
 * notice window) and notice sink.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { AuditLog, readAuditRecords } from "../../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { openStore, resolveHome } from "../../store/mod.ts";
import { AgentGate } from "./gate.ts";
import { writeReadConfig } from "./_testing.ts";
import { startUpstream, tempDir } from "../../../tests/_helpers.ts";

const CALLS = 1_000;
const CAP = 50;
const BATCH = 25;

Deno.test("approvals gate: 1,000 held calls in a burst: queue capped, 950 refused 'review queue full', upstream untouched, one aggregated notice", async () => {
  await using dir = await tempDir("loom-approvals-flood-");
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  await using audit = await AuditLog.open(home.audit);
  const yaml = writeReadConfig(api.url, {
    name: "shop",
    tier: 2,
    sandbox: "none",
    rules: '\n    - { name: big-amount, reason: "Large amounts", tool: "create_*", ' +
      "param_gt: { amount: 500 } }",
    // The rate limit is not what stops this flood: the review queue is.
    extra: "    rate_limit: { per_minute: 100000 }\n",
  });
  const notices: string[] = [];
  const gate = new AgentGate(parseConfig(yaml, { path: "shop.yaml" }), {
    audit,
    approvals: {
      home,
      maxPending: CAP,
      now: () => 1_800_000_000_000,
      notify: (line) => notices.push(line),
    },
  });
  const ctx: ToolCallContext = {
    signal: new AbortController().signal,
    sessionId: null,
    client: { name: "flooder", version: "1" },
    caller: "http-token:0",
    log: () => {},
  };
  const results: CallToolResult[] = [];
  try {
    // Distinct arguments: each call needs its own approval.
    for (let start = 0; start < CALLS; start += BATCH) {
      results.push(
        ...await Promise.all(
          Array.from(
            { length: BATCH },
            (_, i) => gate.callTool("create_item", { title: "t", amount: 501 + start + i }, ctx),
          ),
        ),
      );
    }
    assert.equal(notices.length, 1, "only the first held call is announced during the burst");
  } finally {
    await gate.close();
  }

  const text = (r: CallToolResult) => r.content.map((c) => c.text).join("");
  assert.equal(results.length, CALLS);
  assert.ok(results.every((r) => r.isError === true), "no held call ran");
  const refused = results.filter((r) => /review queue full/.test(text(r)));
  const pending = results.filter((r) => /Approval [0-9a-f]{16} is pending/.test(text(r)));
  assert.equal(refused.length, CALLS - CAP);
  assert.equal(pending.length, CAP);
  assert.equal(api.requests.length, 0, "the upstream saw no request");
  const store = await openStore(home);
  try {
    assert.equal(store.approvals.list({ status: ["pending"] }).length, CAP, "queue capped");
    assert.ok(store.approvals.list().every((a) => a.requestedBy === "http-token:0"));
  } finally {
    store.close();
  }

  // One line at once, one summary at the end of the window (here: shutdown).
  assert.equal(notices.length, 2, notices.join("\n"));
  assert.match(notices[0], /held for review by rule "big-amount"/);
  assert.match(
    notices[1],
    /^agent "shop": 49 more calls held for review and 950 refused \(review queue full, at most 50 pending\)/,
  );

  // No audit loss: every call has its outcome; the overflow has one summary.
  const records = await readAuditRecords(home.audit, {});
  const outcomes = records.filter((r) => r.event === "tool_call" && r.status === "held");
  assert.equal(outcomes.length, CALLS);
  assert.equal(records.filter((r) => r.action === "requested").length, CAP);
  const summaries = records.filter((r) => r.event === "approval_queue");
  assert.equal(summaries.length, 1);
  assert.deepEqual([summaries[0].held, summaries[0].refused], [CAP, CALLS - CAP]);
});
