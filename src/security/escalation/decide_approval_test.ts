import assert from "node:assert/strict";
import { AuditLog, readAuditRecords } from "../audit/mod.ts";
import { openStore, resolveHome } from "../../store/mod.ts";
import { decideApproval } from "./decide_approval.ts";
import { tempDir } from "../../../tests/_helpers.ts";

const ALICE = "oauth:https://issuer.example#alice";

async function fixture() {
  const dir = await tempDir("loom-decide-approval-");
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  const store = await openStore(home);
  const audit = await AuditLog.open(home.audit);
  const created = store.approvals.request({
    agent: "shop",
    tool: "create_item",
    argsSha256: "1".repeat(64),
    configDigest: "a".repeat(64),
    rule: "big",
    reason: "Large amounts need a look",
    argsJson: '{"amount":900}',
    requestedBy: ALICE,
  }, { now: 0, ttlMs: 60_000, maxPending: 5 });
  assert.ok(created.kind === "created");
  return {
    store,
    audit,
    id: created.approval.id,
    records: () => readAuditRecords(home.audit, {}),
    async [Symbol.asyncDispose]() {
      store.close();
      await audit.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("decideApproval(): the identity that asked is refused, audited, and the approval stays pending", async () => {
  await using f = await fixture();
  const refused = await decideApproval(f.store, f.audit, f.id, {
    approve: true,
    actor: `dashboard:${ALICE}`,
    now: 1,
  });
  assert.equal(refused.kind, "same_principal");
  assert.equal(f.store.approvals.get(f.id)?.status, "pending");
  const [record] = await f.records();
  assert.equal(record.event, "approval");
  assert.equal(record.action, "decision_refused");
  assert.equal(record.actor, `dashboard:${ALICE}`);
  assert.equal(record.requested_by, ALICE);
  assert.equal(record.approval, f.id);

  // Another person then decides, recorded with both principals.
  const decided = await decideApproval(f.store, f.audit, f.id, {
    approve: true,
    actor: "cli:bob",
    now: 2,
  });
  assert.equal(decided.kind, "decided");
  const records = await f.records();
  assert.deepEqual(records.map((r) => [r.action, r.actor, r.requested_by]), [
    ["decision_refused", `dashboard:${ALICE}`, ALICE],
    ["approved", "cli:bob", ALICE],
  ]);
  assert.equal(f.store.approvals.get(f.id)?.decidedBy, "cli:bob");
});

Deno.test("decideApproval(): an inline answer through the requester's client is allowed and typed inline:", async () => {
  await using f = await fixture();
  const decided = await decideApproval(f.store, f.audit, f.id, {
    approve: false,
    actor: `inline:${ALICE}`,
    reason: "no",
    now: 1,
  });
  assert.equal(decided.kind, "decided");
  const [record] = await f.records();
  assert.deepEqual([record.action, record.actor, record.reason], [
    "denied",
    `inline:${ALICE}`,
    "no",
  ]);
});
