/**
 * The Overview page: counts from real state (configs that load and fail,
 * tools, calls and denials through `AuditLog`, a pending approval through
 * the store, a quarantine entry), the audit chain's verdict (a damaged log
 * says so) and its cache, the chart's title and text summary, the registry's
 * agents and the upstream hosts' calls and errors; the audit tail reader
 * stays within its bounds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AUDIT_FILE_NAME } from "../../security/audit/mod.ts";
import { openStore, Quarantine } from "../../store/mod.ts";
import { testDashboard } from "./_testing.ts";
import { readAuditTail } from "./_audit_tail.ts";
import { AUDIT_CHECK_TTL_MS, AUDIT_RECHECK_MS, auditStatus } from "./_overview_data.ts";
import {
  appendAll,
  BILLING_YAML,
  BROKEN_YAML,
  outcome,
  readerYaml,
  registerAgent,
  writeAgent,
} from "./_agents_testing.ts";

function card(body: string, id: string): number {
  const m = new RegExp(`id="card-${id}"[^>]*><span class="value">([0-9]+)</span>`).exec(body);
  assert.ok(m !== null, `card ${id}`);
  return Number(m[1]);
}

Deno.test("overview: a damaged audit log is reported as damaged, not as intact", async () => {
  await using d = await testDashboard();
  await appendAll(d.home, [
    outcome("billing", "invoice", "success"),
    outcome("billing", "invoice", "error"),
  ]);
  const file = join(d.home.audit, AUDIT_FILE_NAME);
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(file, text.replace('"status":"error"', '"status":"success"'));
  const body = await (await d.get("/")).text();
  assert.match(body, /class="status-bad"\s+id="audit-verdict">Damaged: modified at seq 2/);
  assert.doesNotMatch(body, /Intact:/);
});

Deno.test("overview: the audit tail reader keeps within its record, byte and age bounds", async () => {
  await using d = await testDashboard();
  assert.deepEqual(await readAuditTail(d.home.audit), []);
  await appendAll(d.home, Array.from({ length: 30 }, () => outcome("a", "t", "success")));
  const all = await readAuditTail(d.home.audit);
  assert.equal(all.length, 30);
  assert.deepEqual(all.map((r) => r.seq), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.deepEqual((await readAuditTail(d.home.audit, { maxRecords: 3 })).map((r) => r.seq), [
    28,
    29,
    30,
  ]);
  const size = (await Deno.stat(join(d.home.audit, AUDIT_FILE_NAME))).size;
  const some = await readAuditTail(d.home.audit, { maxBytes: Math.floor(size / 3) });
  assert.ok(some.length > 0 && some.length < 30, `a third of the bytes: ${some.length}`);
  assert.equal(some.at(-1)?.seq, 30);
  assert.deepEqual(await readAuditTail(d.home.audit, { since: new Date(Date.now() + 60_000) }), []);
});

Deno.test("overview: counts of agents, tools, calls, denials, approvals and quarantine are right", async () => {
  await using d = await testDashboard();
  const billing = await writeAgent(d.agentsDir, "billing.yaml", BILLING_YAML);
  await writeAgent(d.agentsDir, "metrics.yaml", readerYaml("metrics"));
  await writeAgent(d.agentsDir, "broken.yaml", BROKEN_YAML);
  await registerAgent(d.home, billing, "failed");
  await appendAll(d.home, [
    outcome("billing", "invoice", "success", "https://billing.example.com/invoices/1"),
    outcome("billing", "invoice", "error"),
    outcome("billing", "invoice", "timeout"),
    outcome("billing", "invoice", "denied"),
    outcome("metrics", "status", "success", "http://127.0.0.1:9090/status"),
    { event: "agent_lifecycle", agent: "metrics", tool: null, action: "stop", transport: "stdio" },
  ]);
  {
    await using store = await openStore(d.home);
    const made = store.approvals.request({
      agent: "billing",
      tool: "invoice",
      argsSha256: "a".repeat(64),
      configDigest: "b".repeat(64),
      requestedBy: "stdio",
      rule: "big",
      reason: "a big invoice",
      argsJson: "{}",
    }, { now: Date.now(), ttlMs: 3_600_000, maxPending: 10 });
    assert.equal(made.kind, "created");
  }
  const source = join(d.root, "draft.yaml");
  await Deno.writeTextFile(source, readerYaml("draft"));
  await (await Quarantine.open(d.home)).add(source);

  const res = await d.get("/");
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.equal(card(body, "agents"), 2);
  assert.equal(card(body, "agents-failed"), 1);
  assert.equal(card(body, "tools"), 2);
  assert.equal(card(body, "calls"), 5);
  assert.equal(card(body, "denials"), 1);
  assert.equal(card(body, "approvals"), 1);
  assert.equal(card(body, "quarantine"), 1);
  assert.match(body, /<section id="overview-counts" data-refresh="\/" data-every="10"/);
  // The chain check, and when it ran.
  assert.match(body, /id="audit-verdict">Intact: 6 records, last seq 6\./);
  assert.match(body, /Checked at [0-9T:-]+Z/);
  assert.match(body, /No signed checkpoint yet\./);
  // The chart: a title, a description and the same summary as text.
  assert.match(
    body,
    /<title id="calls-chart-title">Calls and denials per hour, last 24 hours<\/title>/,
  );
  assert.match(body, /<desc id="calls-chart-desc">5 calls and 1 denial in the last 24 hours/);
  assert.match(body, /<figcaption>[^]*5 calls and 1 denial in the last 24 hours/);
  // The registry's agents and the hosts' calls and errors in the last hour.
  assert.match(
    body,
    /<a href="\/agents\/billing">billing<\/a><\/td><td><span class="tier tier-2">/,
  );
  assert.match(body, /<span class="status-bad">failed<\/span>/);
  assert.match(
    body,
    /billing\.example\.com:443<\/span><\/td><td>billing<\/td><td>4<\/td><td><span class="status-bad">2<\/span>/,
  );
  assert.match(
    body,
    /127\.0\.0\.1:9090<\/span><\/td><td>metrics<\/td><td>1<\/td><td><span class="status-ok">0<\/span>/,
  );
});

Deno.test("overview: the chain check is reused while the log stays the same, and run again when it grows", async () => {
  await using d = await testDashboard();
  await appendAll(d.home, [outcome("a", "t", "success")]);
  assert.match(await (await d.get("/")).text(), /Intact: 1 records/);
  await appendAll(d.home, [outcome("a", "t", "success")]);
  const again = await (await d.get("/")).text();
  assert.match(again, /Intact: 1 records/, "checked again at most every 5 s");
  assert.equal(card(again, "calls"), 2, "the counts are live");
  const grown = await auditStatus(d.home, Date.now() + AUDIT_RECHECK_MS + 500);
  assert.equal(grown.report?.chain.records, 2, "a grown log is checked again after 5 s");
  const same = await auditStatus(d.home, grown.checkedAt + AUDIT_RECHECK_MS + 500);
  assert.equal(same.checkedAt, grown.checkedAt, "an unchanged log keeps its check");
  const later = await auditStatus(d.home, grown.checkedAt + AUDIT_CHECK_TTL_MS + 1000);
  assert.notEqual(later.checkedAt, grown.checkedAt, "a check older than 30 s runs again");
});
