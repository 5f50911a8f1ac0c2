/**
 * The approvals page on a real state database and audit log: approvals
 * opened through the store the gate uses, decided through the page, which
 * acts through `decideApproval` as `loom approvals approve|deny` does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AuditLog, readAuditRecords } from "../../security/audit/mod.ts";
import { approvalRecord } from "../../security/escalation/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import { type LoomHome, openStore } from "../../store/mod.ts";
import { DASHBOARD_APPROVER } from "./approvals.ts";
import { testDashboard } from "./_testing.ts";

const SECRET = "planted-secret-value-51c0de";
const ASKER = "oauth:https://issuer.example#alice";
const TTL = 15 * 60_000;

/** A held call, opened as the gate opens it (and its `requested` record). */
async function hold(
  home: LoomHome,
  amount: number,
  options: { now?: number } = {},
): Promise<string> {
  await using store = await openStore(home);
  await using audit = await AuditLog.open(home.audit);
  const opened = store.approvals.request({
    agent: "shop",
    tool: "create_item",
    argsSha256: amount.toString(16).padStart(64, "0"),
    configDigest: "a".repeat(64),
    rule: "big-amount",
    reason: "Large amounts need a look",
    argsJson: JSON.stringify({ amount, token: "[REDACTED]" }),
    requestedBy: ASKER,
  }, { now: options.now ?? Date.now(), ttlMs: TTL, maxPending: 10 });
  assert.ok(opened.kind === "created");
  await audit.append(approvalRecord(opened.approval, "requested"));
  return opened.approval.id;
}

async function approvalRecords(home: LoomHome) {
  return await readAuditRecords(home.audit, { event: "approval" });
}

Deno.test("dashboard approvals: an unknown or malformed id is 404", async () => {
  await using d = await testDashboard();
  for (const id of ["0000000000000000", "not-an-id", "ABCDEF0123456789"]) {
    assert.equal((await d.get(`/approvals/${id}`)).status, 404, id);
    const approve = await d.post(`/approvals/${id}/approve`);
    assert.equal(approve.status, 404, id);
    assert.match(await approve.text(), /No approval/);
    assert.equal((await d.post(`/approvals/${id}/deny`)).status, 404, id);
  }
  assert.deepEqual(await approvalRecords(d.home), [], "nothing recorded");
});

Deno.test("dashboard approvals: deciding twice is 409, and so is an expired approval", async () => {
  await using d = await testDashboard();
  const id = await hold(d.home, 900);
  assert.equal((await d.post(`/approvals/${id}/approve`)).status, 303);
  for (const action of ["approve", "deny"]) {
    const again = await d.post(`/approvals/${id}/${action}`);
    assert.equal(again.status, 409);
    assert.match(
      await again.text(),
      new RegExp(
        `Approval ${id} is already approved, not pending \\(decided by dashboard:local\\)`,
      ),
    );
  }
  const old = await hold(d.home, 901, { now: Date.now() - 2 * TTL });
  const late = await d.post(`/approvals/${old}/approve`);
  assert.equal(late.status, 409);
  assert.match(await late.text(), /expired at .*the call must be sent again/);
  await using store = await openStore(d.home);
  assert.equal(store.approvals.get(old)?.status, "expired");
  const actions = (await approvalRecords(d.home)).map((r) => [r.approval, r.action]);
  assert.deepEqual(actions.filter(([a]) => a === old), [[old, "requested"], [old, "expired"]]);
});

Deno.test("dashboard approvals: pending calls are listed with why, when, expiry and their stored arguments", async () => {
  await using d = await testDashboard();
  const id = await hold(d.home, 900);
  const res = await d.get("/approvals");
  assert.equal(res.status, 200);
  const page = await res.text();
  assert.match(page, new RegExp(`<a href="/approvals/${id}">${id}</a>`));
  assert.match(page, /big-amount: Large amounts need a look/);
  assert.match(page, /\{&quot;amount&quot;:900,&quot;token&quot;:&quot;\[REDACTED\]&quot;\}/);
  assert.match(page, new RegExp(`action="/approvals/${id}/approve"`));
  assert.match(page, new RegExp(`action="/approvals/${id}/deny"`));
  const detail = await (await d.get(`/approvals/${id}`)).text();
  assert.match(detail, new RegExp(`<h1>Approval ${id}</h1>`));
  assert.match(detail, /<dt>Asked by<\/dt>\s*<dd>oauth:https:\/\/issuer.example#alice<\/dd>/);
  assert.match(detail, /<label for="deny-reason">/);
});

Deno.test("dashboard approvals: Approve changes the store and writes the record `loom approvals approve` writes", async () => {
  await using d = await testDashboard();
  const id = await hold(d.home, 900);
  const res = await d.post(`/approvals/${id}/approve`);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/approvals");
  {
    await using store = await openStore(d.home);
    const a = store.approvals.get(id);
    assert.equal(a?.status, "approved");
    assert.equal(a?.decidedBy, DASHBOARD_APPROVER);
    assert.equal(DASHBOARD_APPROVER, "dashboard:local");
  }
  const records = await approvalRecords(d.home);
  assert.deepEqual(records.map((r) => r.action), ["requested", "approved"]);
  const approved = records[1];
  assert.equal(approved.approval, id);
  assert.equal(approved.actor, "dashboard:local");
  assert.equal(approved.requested_by, ASKER);
  assert.equal(approved.tool, "create_item");
  assert.equal(typeof approved.expires_at, "string");
  const page = await (await d.get("/approvals")).text();
  assert.match(page, new RegExp(`flash-ok[^>]*>Approved ${id}: agent &quot;shop&quot; may run`));
  assert.match(page, /Recent decisions/);
  assert.match(page, /<td>approved<\/td>/);
});

Deno.test("dashboard approvals: Deny records the reason; without one none is recorded", async () => {
  await using d = await testDashboard();
  const withReason = await hold(d.home, 900);
  const without = await hold(d.home, 902);
  const tooLong = await d.post(`/approvals/${without}/deny`, { reason: "x".repeat(501) });
  assert.equal(tooLong.status, 400);
  assert.match(await tooLong.text(), /The reason is too long: at most 500 characters/);
  const res = await d.post(`/approvals/${withReason}/deny`, { reason: "  amount too large " });
  assert.equal(res.status, 303);
  assert.equal((await d.post(`/approvals/${without}/deny`)).status, 303);
  {
    await using store = await openStore(d.home);
    assert.equal(store.approvals.get(withReason)?.status, "denied");
    assert.equal(store.approvals.get(withReason)?.decisionReason, "amount too large");
    assert.equal(store.approvals.get(without)?.status, "denied");
    assert.equal(store.approvals.get(without)?.decisionReason, null);
  }
  const denied = (await approvalRecords(d.home)).filter((r) => r.action === "denied");
  assert.deepEqual(
    denied.map((r) => [r.approval, r.actor, r.reason]),
    [[withReason, "dashboard:local", "amount too large"], [without, "dashboard:local", undefined]],
  );
  const page = await (await d.get("/approvals")).text();
  assert.match(page, /flash-ok[^>]*>Denied [0-9a-f]{16}: the same call of tool/);
  assert.match(page, /<td>amount too large<\/td>/);
});

Deno.test("dashboard approvals: a vault secret's value never appears on the pages", async () => {
  await using d = await testDashboard();
  {
    await using audit = await AuditLog.open(d.home.audit);
    const broker = await CredentialBroker.open({ home: d.home, env: new Map(), audit });
    try {
      await broker.set("api-key", SECRET);
    } finally {
      await broker.close();
    }
  }
  const id = await hold(d.home, 900);
  const bodies = [
    await (await d.get("/approvals")).text(),
    await (await d.get(`/approvals/${id}`)).text(),
  ];
  await d.post(`/approvals/${id}/deny`, { reason: "no" });
  bodies.push(await (await d.get("/approvals")).text());
  bodies.push(await (await d.get(`/approvals/${id}`)).text());
  for (const body of bodies) assert.ok(!body.includes(SECRET));
});
