/**
 * Tests of step 3's scope check and of the subject in the audit records: a
 * call whose context carries a principal (as the HTTP transport builds it
 * from an OAuth access token) against a real upstream on loopback, refusals
 * first. The end-to-end proof over `loom run --auth oauth` is
 * `tests/e2e/http_oauth_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type AgentConfig, parseConfig } from "../../config/mod.ts";
import { AuditLog, type AuditRecord, readAuditRecords } from "../../security/audit/mod.ts";
import type { CallToolResult, Principal, ToolCallContext } from "../../mcp/mod.ts";
import { AgentGate } from "./gate.ts";
import { writeReadConfig } from "./_testing.ts";
import { recordedSubject } from "./call.ts";
import { startUpstream, tempDir } from "../../../tests/_helpers.ts";

interface Fixture extends AsyncDisposable {
  gate: AgentGate;
  records(): Promise<AuditRecord[]>;
}

async function fixture(
  url: string,
  extra = "",
  mutate: (c: AgentConfig) => AgentConfig = (c) => c,
): Promise<Fixture> {
  const tmp = await tempDir("loom-gate-scope-");
  const audit = await AuditLog.open(`${tmp.path}/audit`);
  const config = mutate(
    parseConfig(writeReadConfig(url, { name: "scope-test", tier: 2, extra }), {
      path: "test.yaml",
    }),
  );
  const gate = new AgentGate(config, { audit });
  return {
    gate,
    records: () => readAuditRecords(`${tmp.path}/audit`, {}),
    [Symbol.asyncDispose]: async () => {
      await gate.close();
      await audit.close().catch(() => {});
      await tmp[Symbol.asyncDispose]();
    },
  };
}

function ctx(principal?: Principal | null, sessionId: string | null = null): ToolCallContext {
  return {
    signal: new AbortController().signal,
    sessionId,
    client: { name: "scope-test", version: "1" },
    principal,
    log: () => {},
  };
}

const as = (subject: string, ...scopes: string[]): Principal => ({
  subject,
  scopes: new Set(scopes),
});

function text(result: CallToolResult): string {
  return result.content.map((c) => c.text).join("");
}

Deno.test("AgentGate.callTool() refuses a write tool to a loom:read principal: never sent, audited with the subject", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using f = await fixture(api.url);
  const res = await f.gate.callTool("create_item", { title: "t" }, ctx(as("alice", "loom:read")));
  assert.equal(res.isError, true);
  assert.equal(
    text(res),
    'Insufficient scope: the write tool "create_item" needs the loom:write scope',
  );
  assert.equal(api.requests.length, 0, "the upstream saw the refused call");
  const records = await f.records();
  assert.equal(records.length, 1);
  const [rec] = records;
  assert.equal(rec.event, "trust_violation");
  assert.equal(rec.status, "denied");
  assert.equal(rec.action, "insufficient_scope");
  assert.equal(rec.scope, "loom:write");
  assert.equal(rec.subject, "alice");
  assert.equal(rec.tool, "create_item");
});

Deno.test("AgentGate.callTool() refuses any tool to a principal with neither LOOM scope", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using f = await fixture(api.url);
  for (const scopes of [[], ["openid", "loom:admin"]]) {
    const read = await f.gate.callTool("lookup", { q: "x" }, ctx(as("bob", ...scopes)));
    assert.equal(read.isError, true);
    assert.match(text(read), /needs the loom:read scope/);
    const write = await f.gate.callTool("create_item", { title: "t" }, ctx(as("bob", ...scopes)));
    assert.match(text(write), /needs the loom:write scope/);
  }
  assert.equal(api.requests.length, 0);
  const records = await f.records();
  assert.equal(records.length, 4);
  assert.ok(records.every((r) => r.action === "insufficient_scope" && r.subject === "bob"));
});

Deno.test("AgentGate.callTool() lets loom:read call a read tool and loom:write call both, recording the subject in intent and outcome", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using f = await fixture(api.url);
  const read = await f.gate.callTool("lookup", { q: "x" }, ctx(as("carol", "loom:read")));
  assert.equal(read.isError, undefined, text(read));
  for (const tool of ["lookup", "create_item"]) {
    const args = tool === "lookup" ? { q: "y" } : { title: "t" };
    const res = await f.gate.callTool(tool, args, ctx(as("dave", "loom:write")));
    assert.equal(res.isError, undefined, text(res));
  }
  assert.equal(api.requests.length, 3);
  const calls = (await f.records()).filter((r) => r.event === "tool_call");
  assert.equal(calls.length, 6);
  assert.deepEqual(
    calls.map((r) => [r.phase, r.subject]),
    [
      ["intent", "carol"],
      ["outcome", "carol"],
      ["intent", "dave"],
      ["outcome", "dave"],
      ["intent", "dave"],
      ["outcome", "dave"],
    ],
  );
});

Deno.test("AgentGate.callTool() without a principal (stdio, static token) checks no scope and records no subject", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using f = await fixture(api.url);
  for (const principal of [undefined, null]) {
    const res = await f.gate.callTool("create_item", { title: "t" }, ctx(principal));
    assert.equal(res.isError, undefined, text(res));
  }
  assert.equal(api.requests.length, 2);
  const records = await f.records();
  assert.equal(records.length, 4);
  assert.ok(records.every((r) => !("subject" in r)), JSON.stringify(records));
});

Deno.test("AgentGate.callTool() still refuses by tier a write a loom:write principal may make", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  // A tier the loader would refuse, set after loading: only the gate's re-check stops it.
  await using f = await fixture(api.url, "", (c) => ({
    ...c,
    runtime: { ...c.runtime, trustTier: 1 },
  }));
  const res = await f.gate.callTool("create_item", { title: "t" }, ctx(as("erin", "loom:write")));
  assert.equal(res.isError, true);
  assert.match(text(res), /cannot call a write tool/);
  assert.equal(api.requests.length, 0);
  const [rec] = await f.records();
  assert.equal(rec.action, "write_tool");
  assert.equal(rec.subject, "erin");
});

Deno.test("AgentGate.callTool() records the subject on invalid-argument refusals and injection findings", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using f = await fixture(api.url, "    injection: audit\n");
  const bad = await f.gate.callTool(
    "lookup",
    { q: "x", extra: 1 },
    ctx(as("frank", "loom:read"), "sid-1"),
  );
  assert.equal(bad.isError, true);
  const ran = await f.gate.callTool("lookup", { q: "x; rm -rf /" }, ctx(as("frank", "loom:read")));
  assert.equal(ran.isError, undefined, text(ran));
  const records = await f.records();
  const invalid = records.find((r) => r.status === "invalid");
  assert.equal(invalid?.subject, "frank");
  assert.match(String(invalid?.session), /^session:[0-9a-f]{16}$/);
  const finding = records.find((r) => r.event === "trust_violation" && r.decision === "audit");
  assert.equal(finding?.subject, "frank");
});

Deno.test("recordedSubject() bounds a long subject and keeps two long ones apart", () => {
  const long = "u".repeat(1000);
  const other = "u".repeat(999) + "v";
  const a = recordedSubject(ctx(as(long, "loom:read")));
  const b = recordedSubject(ctx(as(other, "loom:read")));
  assert.ok(a !== null && b !== null);
  assert.ok(a.length <= 128, `${a.length}`);
  assert.match(a, /^u{64}…sha256:[0-9a-f]{32}$/);
  assert.notEqual(a, b);
  // A surrogate pair at the cut is kept whole or dropped, never split.
  const emoji = recordedSubject(ctx(as("x".repeat(63) + "😀".repeat(100), "loom:read")))!;
  assert.ok(emoji.isWellFormed(), emoji);
  assert.equal(recordedSubject(ctx(as("x".repeat(128)))), "x".repeat(128));
  assert.equal(recordedSubject(ctx(null)), null);
  assert.equal(recordedSubject(ctx(as(""))), null);
});
