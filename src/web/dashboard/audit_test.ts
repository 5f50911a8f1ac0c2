/**
 * The audit page on a real audit log: filters, a record's detail, the live
 * stream, and the verify action.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AUDIT_FILE_NAME, AuditLog } from "../../security/audit/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import type { LoomHome } from "../../store/mod.ts";
import { auditStreamsOpen } from "./audit.ts";
import { testDashboard } from "./_testing.ts";

const SECRET = "planted-secret-value-7f3a9c";

async function appendSamples(log: AuditLog): Promise<void> {
  await log.append({
    event: "agent_lifecycle",
    agent: "alpha",
    tool: null,
    action: "stop",
    transport: "stdio",
  });
  await log.append({
    event: "sandbox_lifecycle",
    agent: "beta",
    tool: null,
    action: "spawn",
    detail: "deno",
    pid: null,
  });
  await log.append({
    event: "approval",
    agent: "beta",
    tool: "create_item",
    action: "requested",
    approval: "0123456789abcdef",
    rule: "big-amount",
    args_sha256: "1".repeat(64),
    config_digest: "a".repeat(64),
  });
}

/** A secret in the vault (its set is audited, by name and HMAC only). */
async function plantSecret(home: LoomHome, audit: AuditLog): Promise<void> {
  const broker = await CredentialBroker.open({ home, env: new Map(), audit });
  try {
    await broker.set("api-key", SECRET);
  } finally {
    await broker.close();
  }
}

function seqsOf(page: string): number[] {
  return [...page.matchAll(/href="\/audit\/record\/(\d+)"/g)].map((m) => Number(m[1]));
}

Deno.test("dashboard audit: an unknown event is 400, an unknown or malformed seq is 404", async () => {
  await using d = await testDashboard();
  assert.equal((await d.get("/audit?event=no_such_event")).status, 400);
  assert.equal((await d.get("/audit?limit=0")).status, 400);
  assert.equal((await d.get("/api/audit/stream?event=nope")).status, 400);
  {
    await using log = await AuditLog.open(d.home.audit);
    await appendSamples(log);
  }
  for (const seq of ["4", "999", "0", "abc", "1e3"]) {
    const res = await d.get(`/audit/record/${seq}`);
    assert.equal(res.status, 404, seq);
    await res.body?.cancel();
  }
});

Deno.test("dashboard audit: newest first, filtered by event, agent and tool like `loom audit show`", async () => {
  await using d = await testDashboard();
  {
    await using log = await AuditLog.open(d.home.audit);
    await appendSamples(log);
  }
  const all = await (await d.get("/audit")).text();
  assert.deepEqual(seqsOf(all), [3, 2, 1]);
  assert.match(all, /<option value="approval">approval<\/option>/);
  assert.match(all, /aria-live="polite"/);
  assert.match(all, /<script type="module" src="\/assets\/audit.js"><\/script>/);
  assert.match(all, /data-stream="\/api\/audit\/stream\?after=3"/);

  assert.deepEqual(seqsOf(await (await d.get("/audit?agent=beta")).text()), [3, 2]);
  assert.deepEqual(seqsOf(await (await d.get("/audit?event=agent_lifecycle")).text()), [1]);
  const byTool = await (await d.get("/audit?tool=create_item&agent=beta")).text();
  assert.deepEqual(seqsOf(byTool), [3]);
  assert.match(byTool, /<option value="approval">approval<\/option>/);
  assert.deepEqual(seqsOf(await (await d.get("/audit?agent=beta&limit=1")).text()), [3]);
  const none = await (await d.get("/audit?agent=nobody&event=approval")).text();
  assert.deepEqual(seqsOf(none), []);
  assert.match(none, /id="audit-empty"/);
  assert.match(none, /<option value="approval" selected>/);
});

Deno.test("dashboard audit: a record's detail shows every field, escaped; a vault secret never shows", async () => {
  await using d = await testDashboard();
  {
    await using log = await AuditLog.open(d.home.audit);
    await appendSamples(log);
    await log.append({
      event: "agent_lifecycle",
      agent: "<img src=x>",
      tool: null,
      action: "stop",
      transport: "stdio",
    });
    await plantSecret(d.home, log);
  }
  const res = await d.get("/audit/record/3");
  assert.equal(res.status, 200);
  const page = await res.text();
  assert.match(page, /<h1>Audit record 3<\/h1>/);
  assert.match(page, /<dt>rule<\/dt>\s*<dd>\s*<code>big-amount<\/code>\s*<\/dd>/);
  assert.match(page, /<dt>hash<\/dt>/);
  const hostile = await (await d.get("/audit/record/4")).text();
  assert.ok(!hostile.includes("<img src=x>"), "record text is escaped");
  assert.ok(hostile.includes("&lt;img src=x&gt;"));

  const list = await (await d.get("/audit?limit=1000")).text();
  assert.match(list, /credential_access/);
  const pages = [list];
  for (const seq of seqsOf(list)) pages.push(await (await d.get(`/audit/record/${seq}`)).text());
  for (const body of pages) assert.ok(!body.includes(SECRET), "no secret value on any page");
});

Deno.test("dashboard audit: the live stream sends a matching record written after it opened, and ends when aborted", async () => {
  await using d = await testDashboard();
  await using log = await AuditLog.open(d.home.audit);
  await appendSamples(log);
  const res = await d.get("/api/audit/stream?agent=beta&after=3");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (needle: string) => {
    for (let i = 0; i < 1000 && !text.includes(needle); i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.ok(text.includes(needle), `stream has ${needle}: ${text}`);
  };
  await readUntil("event: ready");
  await log.append({
    event: "agent_lifecycle",
    agent: "alpha",
    tool: null,
    action: "stop",
    transport: "stdio",
  });
  await log.append({
    event: "agent_lifecycle",
    agent: "beta",
    tool: null,
    action: "stop",
    transport: "stdio",
  });
  await readUntil("id: 5");
  assert.match(text, /event: record\ndata: \{[^\n]*"agent":"beta"[^\n]*"seq":5/);
  assert.ok(!text.includes("id: 4"), "the other agent's record is filtered out");
  assert.ok(!/id: [123]\n/.test(text), "records the page already showed are not sent again");

  await reader.cancel();
  for (let i = 0; i < 400 && auditStreamsOpen() > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(auditStreamsOpen(), 0, "the stream stopped following the log");
});

Deno.test("dashboard audit: Verify now reports a tampered log as failed, with the damage", async () => {
  await using d = await testDashboard();
  {
    await using log = await AuditLog.open(d.home.audit);
    await appendSamples(log);
  }
  const file = join(d.home.audit, AUDIT_FILE_NAME);
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(file, text.replace('"agent":"alpha"', '"agent":"alphx"'));
  const res = await d.post("/audit/verify");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/audit");
  const page = await (await d.get("/audit")).text();
  assert.match(
    page,
    /class="flash flash-error"[^>]*>Audit log verification FAILED: modified at seq 1/,
  );
});

Deno.test("dashboard audit: Verify now on an intact log says verified, with the counts", async () => {
  await using d = await testDashboard();
  {
    await using log = await AuditLog.open(d.home.audit);
    await appendSamples(log);
  }
  const res = await d.post("/audit/verify");
  assert.equal(res.status, 303);
  const page = await (await d.get("/audit")).text();
  assert.match(
    page,
    /class="flash flash-ok"[^>]*>Audit log verified: 3 records intact, last seq 3/,
  );
});

Deno.test("dashboard audit: Verify now without an audit log says so, and is no server error", async () => {
  await using d = await testDashboard();
  const res = await d.post("/audit/verify");
  assert.equal(res.status, 303);
  const page = await (await d.get("/audit")).text();
  assert.match(page, /class="flash flash-error"[^>]*>Audit log not verified: /);
});
