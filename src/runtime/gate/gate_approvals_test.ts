import assert from "node:assert/strict";
import { type AgentConfig, parseConfig } from "../../config/mod.ts";
import { AuditLog, type AuditRecord, readAuditRecords } from "../../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { type LoomStore, openStore, resolveHome } from "../../store/mod.ts";
import { AgentGate } from "./gate.ts";
import { writeReadConfig } from "./_testing.ts";
import { startUpstream, tempDir, type Upstream } from "../../../tests/_helpers.ts";

const MIN = 60_000;
const RULE = '\n    - { name: big-amount, reason: "Large amounts need a look", tool: "create_*", ' +
  "param_gt: { amount: 500 } }";

interface Fixture extends AsyncDisposable {
  gate: AgentGate;
  store: LoomStore;
  api: Upstream;
  clock: { now: number };
  /** Another gate on the same home and log (a reloaded config, say). */
  gateFor(config: AgentConfig): AgentGate;
  records(): Promise<AuditRecord[]>;
}

async function fixture(options: { maxPending?: number; version?: string } = {}): Promise<Fixture> {
  const dir = await tempDir("loom-approvals-gate-");
  const api = await startUpstream(() => Response.json({ ok: true }));
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  const audit = await AuditLog.open(`${dir.path}/audit`);
  const clock = { now: 1_000_000 };
  const gates: AgentGate[] = [];
  const gateFor = (config: AgentConfig) => {
    const gate = new AgentGate(config, {
      audit,
      approvals: { home, now: () => clock.now, maxPending: options.maxPending },
    });
    gates.push(gate);
    return gate;
  };
  const gate = gateFor(configText(api.url));
  const store = await openStore(home);
  return {
    gate,
    store,
    api,
    clock,
    gateFor,
    records: () => readAuditRecords(`${dir.path}/audit`, {}),
    async [Symbol.asyncDispose]() {
      for (const g of gates) await g.close();
      store.close();
      await audit.close();
      await api.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

function configText(url: string, extra = ""): AgentConfig {
  const yaml = writeReadConfig(url, { name: "shop", tier: 2, rules: `${RULE}`, sandbox: "none" });
  return parseConfig(yaml + extra, { path: "shop.yaml" });
}

function ctx(extra: Partial<ToolCallContext> = {}): ToolCallContext {
  return {
    signal: new AbortController().signal,
    sessionId: null,
    client: { name: "test-client", version: "1" },
    caller: "stdio",
    log: () => {},
    ...extra,
  };
}

const text = (r: CallToolResult) => r.content.map((c) => c.text).join("");
const approvalId = (r: CallToolResult) => /Approval ([0-9a-f]{16}) is pending/.exec(text(r))?.[1];
const BIG = { title: "t", amount: 900 };

function approve(f: Fixture, id: string, approve = true, reason?: string) {
  const d = f.store.approvals.decide(id, {
    approve,
    actor: "cli:tester",
    reason,
    now: f.clock.now,
  });
  assert.equal(d.kind, "decided");
}

// --- Negative tests first ---------------------------------------------------

Deno.test("approvals gate: a held call never reaches the upstream and names its approval and the command", async () => {
  await using f = await fixture();
  const res = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(res.isError, true);
  const id = approvalId(res);
  assert.ok(id, text(res));
  assert.match(text(res), new RegExp(`"loom approvals approve ${id}"`));
  assert.match(text(res), /within 15 minutes/);
  // Retrying before a decision is held again, on the same approval, and never sent.
  const again = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(approvalId(again), id);
  assert.equal(f.api.requests.length, 0);
  const records = await f.records();
  assert.deepEqual(
    records.map((r) => [r.event, r.action ?? r.status]),
    [["approval", "requested"], ["tool_call", "held"], ["tool_call", "held"]],
  );
  assert.equal(records[1].approval, id);
  assert.equal(f.store.approvals.list().length, 1);
});

Deno.test("approvals gate: an approved call runs exactly once; a second retry is held again", async () => {
  await using f = await fixture();
  const id = approvalId(await f.gate.callTool("create_item", BIG, ctx()))!;
  approve(f, id);
  const ran = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(ran.isError, undefined, text(ran));
  assert.equal(f.api.requests.length, 1);
  const second = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(second.isError, true);
  assert.notEqual(approvalId(second), id, "a new approval");
  assert.equal(f.api.requests.length, 1);
  const consumed = (await f.records()).filter((r) => r.action === "consumed");
  assert.equal(consumed.length, 1);
  assert.equal(consumed[0].approval, id);
});

Deno.test("approvals gate: different arguments need their own approval", async () => {
  await using f = await fixture();
  approve(f, approvalId(await f.gate.callTool("create_item", BIG, ctx()))!);
  const other = await f.gate.callTool("create_item", { title: "t", amount: 901 }, ctx());
  assert.equal(other.isError, true);
  assert.ok(approvalId(other));
  assert.equal(f.api.requests.length, 0);
  // Calls no rule holds run without any approval.
  const small = await f.gate.callTool("create_item", { title: "t", amount: 5 }, ctx());
  assert.equal(small.isError, undefined, text(small));
});

Deno.test("approvals gate: concurrent retries of one approved call run it once", async () => {
  await using f = await fixture();
  approve(f, approvalId(await f.gate.callTool("create_item", BIG, ctx()))!);
  const results = await Promise.all(
    Array.from({ length: 5 }, () => f.gate.callTool("create_item", BIG, ctx())),
  );
  assert.equal(results.filter((r) => r.isError === undefined).length, 1);
  assert.equal(f.api.requests.length, 1);
});

Deno.test("approvals gate: a denied call answers the denial and its reason on retry", async () => {
  await using f = await fixture();
  const id = approvalId(await f.gate.callTool("create_item", BIG, ctx()))!;
  approve(f, id, false, "too much");
  const res = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(res.isError, true);
  assert.match(text(res), new RegExp(`approval ${id} .*was denied by cli:tester \\(too much\\)`));
  assert.equal(f.api.requests.length, 0);
  // After one TTL the same call may ask again.
  f.clock.now += 15 * MIN + 1;
  assert.ok(approvalId(await f.gate.callTool("create_item", BIG, ctx())));
});

Deno.test("approvals gate: an expired approval says so on retry and a new one is opened (injected clock)", async () => {
  await using f = await fixture();
  const id = approvalId(await f.gate.callTool("create_item", BIG, ctx()))!;
  f.clock.now += 15 * MIN;
  const res = await f.gate.callTool("create_item", BIG, ctx());
  assert.match(text(res), new RegExp(`Approval ${id} for this call expired`));
  const fresh = approvalId(res);
  assert.ok(fresh && fresh !== id);
  // Approved, then not used in time: expired too, the call does not run.
  approve(f, fresh);
  f.clock.now += 15 * MIN;
  const late = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(late.isError, true);
  assert.equal(f.api.requests.length, 0);
  const expired = (await f.records()).filter((r) => r.action === "expired").map((r) => r.approval);
  assert.deepEqual(expired, [id, fresh]);
});

Deno.test("approvals gate: a changed config voids the agent's approvals", async () => {
  await using f = await fixture();
  const id = approvalId(await f.gate.callTool("create_item", BIG, ctx()))!;
  approve(f, id);
  // The same agent, edited (one more comment line: another digest).
  const edited = f.gateFor(configText(f.api.url, "# edited\n"));
  const res = await edited.callTool("create_item", BIG, ctx());
  assert.equal(res.isError, true);
  assert.match(text(res), new RegExp(`Approval ${id} was void: the agent's config changed`));
  assert.equal(f.store.approvals.get(id)?.status, "void");
  // Nor does the old config's gate run it any more.
  const old = await f.gate.callTool("create_item", BIG, ctx());
  assert.equal(old.isError, true);
  assert.equal(f.api.requests.length, 0);
  assert.ok((await f.records()).some((r) => r.action === "voided" && r.approval === id));
});

Deno.test("approvals gate: past the pending cap, held calls are refused as 'review queue full'", async () => {
  await using f = await fixture({ maxPending: 2 });
  for (const amount of [600, 601]) {
    assert.ok(approvalId(await f.gate.callTool("create_item", { title: "t", amount }, ctx())));
  }
  const full = await f.gate.callTool("create_item", { title: "t", amount: 602 }, ctx());
  assert.equal(full.isError, true);
  assert.match(text(full), /review queue full/);
  assert.equal(approvalId(full), undefined);
  assert.equal(f.store.approvals.list().length, 2);
  assert.equal(f.api.requests.length, 0);
});

Deno.test("approvals gate: the OAuth subject that asked may not approve its own call through another channel", async () => {
  await using f = await fixture();
  const issuer = "https://issuer.example";
  const alice = ctx({
    principal: { subject: "alice", issuer, scopes: new Set(["loom:read", "loom:write"]) },
    caller: "http-oauth",
  });
  const id = approvalId(await f.gate.callTool("create_item", BIG, alice))!;
  const asked = f.store.approvals.get(id)!;
  assert.equal(asked.requestedBy, `oauth:${issuer}#alice`, "the subject, not the client's name");
  const own = f.store.approvals.decide(id, {
    approve: true,
    actor: `dashboard:oauth:${issuer}#alice`,
    now: f.clock.now,
  });
  assert.equal(own.kind, "same_principal");
  assert.equal(f.store.approvals.get(id)?.status, "pending");
  // Still held: nothing ran.
  assert.equal((await f.gate.callTool("create_item", BIG, alice)).isError, true);
  assert.equal(f.api.requests.length, 0);
  // A different subject of the same issuer may.
  const bob = f.store.approvals.decide(id, {
    approve: true,
    actor: `dashboard:oauth:${issuer}#bob`,
    now: f.clock.now,
  });
  assert.equal(bob.kind, "decided");
  const ran = await f.gate.callTool("create_item", BIG, alice);
  assert.equal(ran.isError, undefined, text(ran));
  assert.equal(f.api.requests.length, 1);
  const requested = (await f.records()).find((r) => r.action === "requested");
  assert.equal(requested?.requested_by, `oauth:${issuer}#alice`);
});

Deno.test("approvals gate: an inline answer of the OAuth caller is recorded as inline:<its principal>", async () => {
  await using f = await fixture();
  const principal = {
    subject: "alice",
    issuer: "https://issuer.example",
    scopes: new Set(["loom:write"]),
  };
  const res = await f.gate.callTool("create_item", BIG, {
    ...asking({ action: "accept", content: { approve: true } }),
    principal,
  });
  assert.equal(res.isError, undefined, text(res));
  const [a] = f.store.approvals.list();
  assert.equal(a.decidedBy, "inline:oauth:https://issuer.example#alice");
  assert.equal(a.requestedBy, "oauth:https://issuer.example#alice");
});

// --- Inline approval (elicitation) ------------------------------------------

function asking(answer: Record<string, unknown> | Error, seen: unknown[] = []) {
  return ctx({
    clientCapabilities: new Set(["elicitation"]),
    request: (method, params) => {
      seen.push({ method, params });
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  });
}

Deno.test("approvals gate: a client without the elicitation capability is never asked", async () => {
  await using f = await fixture();
  const seen: unknown[] = [];
  const res = await f.gate.callTool(
    "create_item",
    BIG,
    ctx({ request: (m, p) => (seen.push([m, p]), Promise.resolve({ action: "accept" })) }),
  );
  assert.equal(res.isError, true);
  assert.equal(seen.length, 0);
});

Deno.test("approvals gate: with inline_approval false, no client is asked in either era; the CLI decides", async () => {
  await using f = await fixture();
  const gate = f.gateFor(configText(f.api.url, "    inline_approval: false\n"));
  const seen: unknown[] = [];
  const sessionClient = asking({ action: "accept", content: { approve: true } }, seen);
  const session = await gate.callTool("create_item", BIG, sessionClient);
  assert.equal(session.isError, true);
  assert.equal(seen.length, 0, "no elicitation request");
  const stateless = await gate.callTool("create_item", BIG, {
    ...ctx({ clientCapabilities: new Set(["elicitation"]) }),
    acceptsInputRequired: true,
  });
  assert.equal(stateless.isError, true);
  assert.equal(stateless.inputRequired, undefined, "no input_required result");
  assert.deepEqual(f.store.approvals.list().map((a) => a.status), ["pending"]);
  assert.equal(f.api.requests.length, 0);
});

Deno.test("approvals gate: inline decline, cancel or failure leaves the approval pending for the CLI", async () => {
  await using f = await fixture();
  for (const answer of [{ action: "decline" }, { action: "cancel" }, new Error("timeout")]) {
    const res = await f.gate.callTool("create_item", BIG, asking(answer));
    assert.equal(res.isError, true);
    assert.ok(approvalId(res));
  }
  assert.deepEqual(f.store.approvals.list().map((a) => a.status), ["pending"]);
  assert.equal(f.api.requests.length, 0);
});

Deno.test("approvals gate: an inline accept with approve=true runs the call once, recorded as the client", async () => {
  await using f = await fixture();
  const seen: { method: string; params: Record<string, unknown> }[] = [];
  const res = await f.gate.callTool(
    "create_item",
    BIG,
    asking({ action: "accept", content: { approve: true } }, seen),
  );
  assert.equal(res.isError, undefined, text(res));
  assert.equal(f.api.requests.length, 1);
  assert.equal(seen[0].method, "elicitation/create");
  assert.match(String(seen[0].params.message), /"create_item".*"big-amount"/);
  const schema = seen[0].params.requestedSchema as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(schema.properties), ["approve", "reason"]);
  const actions = (await f.records()).filter((r) => r.event === "approval");
  assert.deepEqual(actions.map((r) => r.action), ["requested", "approved", "consumed"]);
  // Typed by the channel and the caller's principal; the client's name is no identity.
  assert.equal(actions[1].actor, "inline:stdio");
  assert.equal(actions[1].requested_by, "stdio");
  // Used: the next identical call is held again.
  assert.equal((await f.gate.callTool("create_item", BIG, ctx())).isError, true);
  assert.equal(f.api.requests.length, 1);
});

Deno.test("approvals gate: an inline accept with approve=false denies, with the reason", async () => {
  await using f = await fixture();
  const res = await f.gate.callTool(
    "create_item",
    BIG,
    asking({ action: "accept", content: { approve: false, reason: "no thanks" } }),
  );
  assert.equal(res.isError, true);
  assert.match(text(res), /denied/);
  const [a] = f.store.approvals.list();
  assert.equal(a.status, "denied");
  assert.equal(a.decisionReason, "no thanks");
  assert.equal(f.api.requests.length, 0);
});
