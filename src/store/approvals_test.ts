import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { resolveHome } from "./home.ts";
import { openStore } from "./db.ts";
import { type ApprovalRequest, approverIdentity } from "./approvals.ts";
import { tempDir } from "../../tests/_helpers.ts";

const MIN = 60_000;
const LIMITS = { ttlMs: 15 * MIN, maxPending: 3 };

function request(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    agent: "shop",
    tool: "create_item",
    argsSha256: "1".repeat(64),
    configDigest: "a".repeat(64),
    rule: "big",
    reason: "Large amounts need a look",
    argsJson: '{"amount":900}',
    requestedBy: "stdio",
    ...overrides,
  };
}

async function store() {
  const dir = await tempDir("loom-approvals-");
  const s = await openStore(resolveHome(new Map([["LOOM_HOME", dir.path]])));
  return {
    s,
    async [Symbol.asyncDispose]() {
      s.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

// --- Negative tests first ---------------------------------------------------

Deno.test("approvals: nothing is consumed before approval, and a pending one is found again, not duplicated", async () => {
  await using t = await store();
  const a = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  assert.equal(a.kind, "created");
  assert.equal(t.s.approvals.consume(request(), 1), null);
  const b = t.s.approvals.request(request(), { ...LIMITS, now: 2 });
  assert.equal(b.kind, "pending");
  assert.equal("approval" in a && "approval" in b && a.approval.id === b.approval.id, true);
  assert.equal(t.s.approvals.list().length, 1);
});

Deno.test("approvals: the identity that asked may not decide; the approval stays pending, another then decides", async () => {
  await using t = await store();
  const alice = "oauth:https://issuer.example#alice";
  const r = t.s.approvals.request(request({ requestedBy: alice }), { ...LIMITS, now: 0 });
  assert.ok(r.kind === "created");
  assert.equal(r.approval.requestedBy, alice);
  for (const approve of [true, false]) {
    const own = t.s.approvals.decide(r.approval.id, {
      approve,
      actor: `dashboard:${alice}`,
      now: 1,
    });
    assert.equal(own.kind, "same_principal");
    assert.ok(own.kind === "same_principal" && own.identity === alice);
  }
  const still = t.s.approvals.get(r.approval.id)!;
  assert.equal(still.status, "pending");
  assert.equal(still.decidedBy, null);
  assert.equal(t.s.approvals.consume(request(), 2), null);
  // Another subject of the same issuer, and a person at the command line, may.
  const bob = t.s.approvals.decide(r.approval.id, {
    approve: true,
    actor: "dashboard:oauth:https://issuer.example#bob",
    now: 3,
  });
  assert.ok(bob.kind === "decided");
  assert.equal(bob.approval.decidedBy, "dashboard:oauth:https://issuer.example#bob");
  assert.equal(bob.approval.requestedBy, alice);
});

Deno.test("approvals: a same-named principal of another issuer or channel is another identity", () => {
  assert.equal(approverIdentity("dashboard:oauth:X#alice"), "oauth:X#alice");
  assert.equal(approverIdentity("cli:alice"), "cli:alice");
  assert.notEqual(approverIdentity("dashboard:oauth:Y#alice"), "oauth:X#alice");
  // Inline answers come from the requesting client's user: not compared (documented).
  assert.equal(approverIdentity("inline:oauth:X#alice"), null);
});

Deno.test("approvals: a decision needs an actor", async () => {
  await using t = await store();
  const r = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  assert.ok(r.kind === "created");
  assert.throws(
    () => t.s.approvals.decide(r.approval.id, { approve: true, actor: "", now: 1 }),
    /actor must be a non-empty string/,
  );
  assert.throws(
    () => t.s.approvals.request(request({ requestedBy: "" }), { ...LIMITS, now: 0 }),
    /requestedBy must be a non-empty string/,
  );
});

Deno.test("approvals: rows from before requested_by existed read 'unknown' after the migration", async () => {
  await using dir = await tempDir("loom-approvals-migrate-");
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  (await openStore(home)).close();
  // Back to schema 4 with an old row: drop the column and its migration record.
  const raw = new DatabaseSync(home.db);
  try {
    raw.exec("ALTER TABLE approvals DROP COLUMN requested_by");
    raw.exec("DELETE FROM schema_migrations WHERE name = 'approvals_requested_by'");
    // And without the later migrations (registry 6, tool pins 7, anomaly state 8) that
    // schema 4 did not have.
    raw.exec("DROP TABLE tool_pins; DROP TABLE agent_tools; DROP TABLE agents");
    raw.exec("DROP TABLE anomaly_tools; DROP TABLE anomaly_agents");
    raw.exec("DELETE FROM schema_migrations WHERE version > 5");
    raw.exec(
      `INSERT INTO approvals (id, agent, tool, args_sha256, config_digest, rule, reason,
         args_json, status, created_at, expires_at)
       VALUES ('00000000000000aa', 'shop', 'create_item', '${"1".repeat(64)}',
         '${"a".repeat(64)}', 'big', 'r', '{}', 'pending', 0, ${15 * MIN})`,
    );
  } finally {
    raw.close();
  }
  const s = await openStore(home);
  try {
    assert.equal(s.approvals.get("00000000000000aa")?.requestedBy, "unknown");
  } finally {
    s.close();
  }
});

Deno.test("approvals: the queue is capped per agent; another agent has its own", async () => {
  await using t = await store();
  for (let i = 0; i < 3; i++) {
    const r = t.s.approvals.request(request({ argsSha256: String(i).repeat(64) }), {
      ...LIMITS,
      now: i,
    });
    assert.equal(r.kind, "created");
  }
  const full = t.s.approvals.request(request({ argsSha256: "9".repeat(64) }), {
    ...LIMITS,
    now: 5,
  });
  assert.equal(full.kind, "queue_full");
  const other = t.s.approvals.request(request({ agent: "other" }), { ...LIMITS, now: 5 });
  assert.equal(other.kind, "created");
});

Deno.test("approvals: an approval is consumed once, only for its exact binding", async () => {
  await using t = await store();
  const r = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  assert.ok(r.kind === "created");
  const d = t.s.approvals.decide(r.approval.id, { approve: true, actor: "cli:me", now: 10 });
  assert.equal(d.kind, "decided");
  assert.equal(t.s.approvals.consume(request({ argsSha256: "2".repeat(64) }), 11), null);
  assert.equal(t.s.approvals.consume(request({ tool: "other" }), 11), null);
  assert.equal(t.s.approvals.consume(request({ configDigest: "b".repeat(64) }), 11), null);
  const used = t.s.approvals.consume(request(), 12);
  assert.equal(used?.id, r.approval.id);
  assert.equal(used?.status, "consumed");
  assert.equal(t.s.approvals.consume(request(), 13), null, "single use");
  // The next request for the same binding is a new pending approval.
  const again = t.s.approvals.request(request(), { ...LIMITS, now: 14 });
  assert.equal(again.kind, "created");
});

Deno.test("approvals: a pending approval expires; deciding it late says so", async () => {
  await using t = await store();
  const r = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  assert.ok(r.kind === "created");
  const late = t.s.approvals.decide(r.approval.id, {
    approve: true,
    actor: "cli:me",
    now: 15 * MIN,
  });
  assert.equal(late.kind, "expired");
  assert.equal(t.s.approvals.get(r.approval.id)?.status, "expired");
  assert.equal(t.s.approvals.consume(request(), 15 * MIN + 1), null);
});

Deno.test("approvals: an approved but unused approval expires one TTL after the decision", async () => {
  await using t = await store();
  const r = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  assert.ok(r.kind === "created");
  t.s.approvals.decide(r.approval.id, { approve: true, actor: "cli:me", now: 10 * MIN });
  assert.equal(t.s.approvals.consume(request(), 25 * MIN), null);
  const swept = t.s.approvals.expireDue(25 * MIN);
  assert.deepEqual(swept.map((a) => a.id), [r.approval.id]);
});

Deno.test("approvals: a denial blocks the binding for one TTL, then a new request opens", async () => {
  await using t = await store();
  const r = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  assert.ok(r.kind === "created");
  const d = t.s.approvals.decide(r.approval.id, {
    approve: false,
    actor: "cli:me",
    reason: "no",
    now: 1,
  });
  assert.ok(d.kind === "decided");
  assert.equal(d.approval.decisionReason, "no");
  assert.equal(t.s.approvals.consume(request(), 2), null);
  assert.equal(t.s.approvals.request(request(), { ...LIMITS, now: 2 }).kind, "denied");
  assert.equal(t.s.approvals.request(request(), { ...LIMITS, now: 1 + 15 * MIN }).kind, "created");
  const twice = t.s.approvals.decide(r.approval.id, { approve: true, actor: "cli:me", now: 3 });
  assert.equal(twice.kind, "not_pending");
  assert.equal(
    t.s.approvals.decide("0".repeat(16), { approve: true, actor: "x", now: 3 }).kind,
    "not_found",
  );
  assert.equal(
    t.s.approvals.decide("../x", { approve: true, actor: "x", now: 3 }).kind,
    "not_found",
  );
});

Deno.test("approvals: a new config digest voids the agent's pending and approved approvals", async () => {
  await using t = await store();
  const a = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
  const b = t.s.approvals.request(request({ argsSha256: "2".repeat(64) }), { ...LIMITS, now: 0 });
  assert.ok(a.kind === "created" && b.kind === "created");
  t.s.approvals.decide(b.approval.id, { approve: true, actor: "cli:me", now: 1 });
  const other = t.s.approvals.request(request({ agent: "other" }), { ...LIMITS, now: 1 });
  const next = t.s.approvals.request(request({ configDigest: "b".repeat(64) }), {
    ...LIMITS,
    now: 2,
  });
  assert.equal(next.kind, "created");
  assert.deepEqual(next.voided.map((v) => v.id).sort(), [a.approval.id, b.approval.id].sort());
  assert.equal(t.s.approvals.get(b.approval.id)?.status, "void");
  assert.ok(other.kind === "created");
  assert.equal(t.s.approvals.get(other.approval.id)?.status, "pending", "other agents untouched");
});

Deno.test("approvals: two stores on one database consume one approval once", async () => {
  await using t = await store();
  const second = await openStore(
    resolveHome(new Map([["LOOM_HOME", t.s.path.replace(/\/loom\.db$/, "")]])),
  );
  try {
    const r = t.s.approvals.request(request(), { ...LIMITS, now: 0 });
    assert.ok(r.kind === "created");
    second.approvals.decide(r.approval.id, { approve: true, actor: "cli:me", now: 1 });
    const got = [t.s.approvals.consume(request(), 2), second.approvals.consume(request(), 2)];
    assert.equal(got.filter((g) => g !== null).length, 1);
  } finally {
    second.close();
  }
});
