import assert from "node:assert/strict";
import { AuditLog, readAuditRecords } from "../../security/audit/mod.ts";
import type { Approval } from "../../store/mod.ts";
import { ReviewNotices } from "./review_notices.ts";
import { tempDir } from "../../../tests/_helpers.ts";

function approval(id: string): Approval {
  return {
    id,
    agent: "shop",
    tool: "create_item",
    argsSha256: "1".repeat(64),
    configDigest: "a".repeat(64),
    status: "pending",
    rule: "big-amount",
    reason: "r",
    argsJson: "{}",
    requestedBy: "stdio",
    createdAt: 0,
    expiresAt: 1,
    decidedAt: null,
    decidedBy: null,
    decisionReason: null,
    consumedAt: null,
  };
}

async function fixture() {
  const dir = await tempDir("loom-review-notices-");
  const audit = await AuditLog.open(dir.path);
  const clock = { now: Date.UTC(2026, 0, 1) };
  const lines: string[] = [];
  const notices = new ReviewNotices(audit, "shop", 3, {
    notify: (line) => lines.push(line),
    windowMs: 10_000,
    now: () => clock.now,
  });
  return {
    notices,
    clock,
    lines,
    records: () => readAuditRecords(dir.path, { event: "approval_queue" }),
    async [Symbol.asyncDispose]() {
      await notices.close();
      await audit.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("ReviewNotices: a burst gives one line at once and one summary, not one per call", async () => {
  await using f = await fixture();
  f.notices.held(approval("00000000000000a1"));
  assert.equal(f.lines.length, 1);
  assert.match(f.lines[0], /held for review by rule "big-amount" \(approval 00000000000000a1\)/);
  for (let i = 0; i < 2; i++) f.notices.held(approval(`00000000000000b${i}`));
  for (let i = 0; i < 500; i++) f.notices.refused("create_item", 3);
  assert.equal(f.lines.length, 1, "nothing more inside the window");
  assert.deepEqual(await f.records(), []);
  // The window ends: the next call after it says what was counted, once.
  f.clock.now += 10_000;
  f.notices.held(approval("00000000000000c1"));
  assert.equal(f.lines.length, 3);
  assert.match(
    f.lines[1],
    /^agent "shop": 2 more calls held for review and 500 refused \(review queue full, at most 3 pending\) since 2026-01-01T00:00:00\.000Z; run "loom approvals list"$/,
  );
  assert.match(f.lines[2], /approval 00000000000000c1/, "a new quiet period is announced at once");
  await f.notices.flush();
  const records = await f.records();
  assert.equal(records.length, 1, "one audit summary for the overflow window");
  assert.deepEqual(
    [records[0].held, records[0].refused, records[0].max_pending, records[0].tool],
    [3, 500, 3, null],
  );
  assert.equal(records[0].window_start, "2026-01-01T00:00:00.000Z");
});

Deno.test("ReviewNotices: what is counted is said on close (shutdown); a quiet window says nothing more", async () => {
  await using f = await fixture();
  f.notices.refused("create_item", 3);
  assert.match(f.lines[0], /refused: review queue full \(3 pending, at most 3\)/);
  await f.notices.flush();
  assert.equal(f.lines.length, 1, "a lone call needs no summary line");
  assert.equal((await f.records()).length, 1, "but a refusal is summed up in the audit log");
  f.notices.refused("create_item", 3);
  f.notices.refused("create_item", 3);
  await f.notices.close();
  assert.equal(f.lines.length, 3);
  assert.match(f.lines[2], /: 1 more call refused \(review queue full/);
  await f.notices.close();
  assert.equal(f.lines.length, 3, "said once");
});

Deno.test("ReviewNotices: only held calls (no refusal) write no audit summary; a broken sink fails nothing", async () => {
  await using f = await fixture();
  await using dir = await tempDir("loom-review-notices-sink-");
  const log = await AuditLog.open(dir.path);
  const broken = new ReviewNotices(log, "x", 1, {
    notify: () => {
      throw new Error("sink down");
    },
  });
  broken.held(approval("00000000000000d1"));
  broken.refused("create_item", 1);
  await broken.close();
  await log.close();
  f.notices.held(approval("00000000000000a1"));
  f.notices.held(approval("00000000000000a2"));
  await f.notices.flush();
  assert.match(f.lines[1], /1 more call held for review since/);
  assert.deepEqual(await f.records(), []);
});
