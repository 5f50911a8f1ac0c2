import assert from "node:assert/strict";
import { readAuditRecords } from "../security/audit/mod.ts";
import type { AuditRecord } from "../security/audit/mod.ts";
import { eventually, fixture } from "./_mesh_testing.ts";
import { MeshScheduler, SCHEDULE_CLIENT, type ScheduleClock } from "./mesh_schedule.ts";
import type { Mesh } from "./mesh.ts";
import { startUpstream } from "../../tests/_helpers.ts";

/** A clock the test moves: timers fire only when it is advanced past them. */
class TestClock implements ScheduleClock {
  #now: number;
  #timers: { at: number; fn: () => void }[] = [];

  constructor(iso: string) {
    this.#now = Date.parse(iso);
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.#now + ms, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Move to `iso` and fire the timers due by then, in order (bounded). */
  advanceTo(iso: string): void {
    const target = Date.parse(iso);
    for (let i = 0; i < 10_000; i++) {
      this.#timers.sort((a, b) => a.at - b.at);
      const first = this.#timers[0];
      if (first === undefined || first.at > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, first.at);
      first.fn();
    }
    this.#now = target;
  }
}

/** A tier 2 agent with one tool `report` (a defaulted parameter) and its triggers. */
function scheduledYaml(url: string, triggers: string, extra = ""): string {
  return `agent:
  name: reports
  exposes:
    - name: report
      description: Build the report
      parameters: { days: { type: integer, default: 7 } }
      triggers:
${triggers}  http_bridge:
    - tool_name: report
      url: "${url}/report"
      query_params: { days: days }
${extra}  runtime:
    trust_tier: 2
    sandbox: none
`;
}

function start(
  mesh: Mesh,
  clock: TestClock,
  audit: Parameters<typeof MeshScheduler.start>[1]["audit"],
  extra = {},
) {
  const log: string[] = [];
  const scheduler = MeshScheduler.start(mesh, {
    timeZone: "UTC",
    audit,
    version: "0.0.0-test",
    log: (line) => log.push(line),
    clock,
    ...extra,
  });
  return { scheduler, log };
}

const ofEvent = (records: AuditRecord[], event: string) =>
  records.filter((r) => (r as Record<string, unknown>).event === event) as Record<
    string,
    unknown
  >[];

Deno.test("a trigger fires its tool through the mesh and the owning gate, recorded as client schedule", async () => {
  await using f = await fixture((req) => Response.json({ query: new URL(req.url).search }));
  await f.write("reports.yaml", scheduledYaml(f.api.url, '        - cron: "*/5 * * * *"\n'));
  const mesh = await f.open();
  const clock = new TestClock("2026-01-01T00:03:10Z");
  const { scheduler } = start(mesh, clock, f.audit);
  await using _s = scheduler;
  assert.equal(scheduler.planned, 1);
  assert.equal(scheduler.nextDue(), Date.parse("2026-01-01T00:05:00Z"));

  clock.advanceTo("2026-01-01T00:04:59Z");
  await scheduler.idle();
  assert.equal(f.api.requests.length, 0, "nothing before it is due");

  clock.advanceTo("2026-01-01T00:05:00Z");
  await scheduler.idle();
  assert.equal(f.api.requests.length, 1);
  assert.equal(new URL(f.api.requests[0].url).search, "?days=7", "the parameter's default applied");
  assert.equal(scheduler.nextDue(), Date.parse("2026-01-01T00:10:00Z"));

  const calls = ofEvent(await readAuditRecords(f.home.audit, {}), "tool_call");
  const outcome = calls.find((r) => r.phase === "outcome");
  assert.equal(outcome?.client, SCHEDULE_CLIENT);
  assert.equal(outcome?.status, "success");
  assert.equal(outcome?.agent, "reports");
  assert.equal(outcome?.tool, "report");
  assert.ok(calls.some((r) => r.phase === "intent" && r.client === SCHEDULE_CLIENT));
});

Deno.test("a run still going when the next is due is skipped and recorded, not overlapped", async () => {
  const release = Promise.withResolvers<void>();
  await using f = await fixture(async () => {
    await release.promise;
    return Response.json({ ok: true });
  });
  await f.write("reports.yaml", scheduledYaml(f.api.url, '        - cron: "* * * * *"\n'));
  const mesh = await f.open();
  const clock = new TestClock("2026-01-01T00:00:30Z");
  const { scheduler } = start(mesh, clock, f.audit);
  await using _s = scheduler;

  clock.advanceTo("2026-01-01T00:01:00Z");
  await eventually(() => f.api.requests.length === 1, "the first run reached the upstream");
  clock.advanceTo("2026-01-01T00:02:00Z");
  clock.advanceTo("2026-01-01T00:03:00Z");
  release.resolve();
  await scheduler.idle();
  assert.equal(f.api.requests.length, 1, "never two runs of one trigger at once");

  const records = await readAuditRecords(f.home.audit, {});
  const skipped = ofEvent(records, "schedule").filter((r) => r.action === "skipped");
  assert.deepEqual(skipped.map((r) => r.fired_at), [
    "2026-01-01T00:02:00.000Z",
    "2026-01-01T00:03:00.000Z",
  ]);
  assert.equal(skipped[0].agent, "reports");
  assert.equal(skipped[0].tool, "report");
  assert.equal(skipped[0].trigger, "* * * * *");
  const outcomes = ofEvent(records, "tool_call").filter((r) => r.phase === "outcome");
  assert.deepEqual(outcomes.map((r) => r.status), ["success"]);

  // Once it ended, the next one runs.
  clock.advanceTo("2026-01-01T00:04:00Z");
  await scheduler.idle();
  assert.equal(f.api.requests.length, 2);
});

Deno.test("a webhook receives the run's result as a JSON POST; the delivery is recorded", async () => {
  const received: Record<string, unknown>[] = [];
  await using hook = await startUpstream(async (req) => {
    received.push({
      method: req.method,
      type: req.headers.get("content-type"),
      ...await req.json(),
    });
    return new Response(null, { status: 204 });
  });
  await using f = await fixture(() => Response.json({ total: 42 }));
  await f.write(
    "reports.yaml",
    scheduledYaml(
      f.api.url,
      `        - cron: "0 9 * * 1-5"\n          webhook: "${hook.url}/hook/t0k"\n`,
    ),
  );
  const mesh = await f.open();
  const clock = new TestClock("2026-03-06T08:00:00Z"); // a Friday
  const { scheduler } = start(mesh, clock, f.audit);
  await using _s = scheduler;
  clock.advanceTo("2026-03-06T09:00:00Z");
  await scheduler.idle();

  assert.equal(received.length, 1);
  assert.deepEqual(received[0], {
    method: "POST",
    type: "application/json",
    agent: "reports",
    tool: "report",
    trigger: "0 9 * * 1-5",
    fired_at: "2026-03-06T09:00:00.000Z",
    status: "success",
    result_text: '{"total":42}',
  });
  const [record] = ofEvent(await readAuditRecords(f.home.audit, {}), "schedule");
  assert.equal(record.action, "webhook");
  assert.equal(record.result, "delivered");
  assert.equal(record.http_status, 204);
  assert.equal(record.webhook, hook.url, "only the origin: a path may carry a token");
  assert.equal(scheduler.nextDue(), Date.parse("2026-03-09T09:00:00Z"), "next Monday");
});

Deno.test("a webhook to a refused destination is not sent; the refusal is recorded and the mesh goes on", async () => {
  const received: unknown[] = [];
  await using hook = await startUpstream((req) => {
    received.push(req.url);
    return new Response(null, { status: 204 });
  });
  await using f = await fixture(() => Response.json({ secretish: "data" }));
  // A name (not a loopback literal, not localhost) that resolves to loopback: SSRF.
  await f.write(
    "reports.yaml",
    scheduledYaml(
      f.api.url,
      `        - cron: "* * * * *"\n          webhook: "http://hooks.loom.test:${hook.port}/x"\n`,
    ),
  );
  const mesh = await f.open();
  const clock = new TestClock("2026-01-01T00:00:30Z");
  const { scheduler } = start(mesh, clock, f.audit, {
    lookup: () => Promise.resolve(["127.0.0.1"]),
  });
  await using _s = scheduler;
  clock.advanceTo("2026-01-01T00:01:00Z");
  await scheduler.idle();

  assert.equal(received.length, 0, "nothing reached the loopback server");
  const [record] = ofEvent(await readAuditRecords(f.home.audit, {}), "schedule");
  assert.equal(record.action, "webhook");
  assert.equal(record.result, "refused");
  assert.match(String(record.reason), /loopback address/);
  // The run itself happened, and the scheduler keeps going.
  assert.equal(f.api.requests.length, 1);
  assert.equal(scheduler.nextDue(), Date.parse("2026-01-01T00:02:00Z"));
});

Deno.test("a webhook receiver that fails is recorded as failed", async () => {
  await using hook = await startUpstream(() => new Response("no", { status: 500 }));
  await using f = await fixture(() => Response.json({ ok: 1 }));
  await f.write(
    "reports.yaml",
    scheduledYaml(f.api.url, `        - cron: "* * * * *"\n          webhook: "${hook.url}/h"\n`),
  );
  const mesh = await f.open();
  const clock = new TestClock("2026-01-01T00:00:30Z");
  const { scheduler } = start(mesh, clock, f.audit);
  await using _s = scheduler;
  clock.advanceTo("2026-01-01T00:01:00Z");
  await scheduler.idle();
  const [record] = ofEvent(await readAuditRecords(f.home.audit, {}), "schedule");
  assert.equal(record.result, "failed");
  assert.equal(record.http_status, 500);
});

Deno.test("the schedule follows hot reload: changed triggers replace, removed ones stop", async () => {
  await using f = await fixture();
  await f.write("reports.yaml", scheduledYaml(f.api.url, '        - cron: "0 * * * *"\n'));
  const mesh = await f.open();
  const clock = new TestClock("2026-01-01T00:10:00Z");
  const { scheduler } = start(mesh, clock, f.audit);
  await using _s = scheduler;
  assert.equal(scheduler.nextDue(), Date.parse("2026-01-01T01:00:00Z"));

  await f.write("reports.yaml", scheduledYaml(f.api.url, '        - cron: "30 * * * *"\n'));
  await mesh.reload();
  scheduler.refresh();
  assert.equal(scheduler.nextDue(), Date.parse("2026-01-01T00:30:00Z"));

  // Without the refresh call, the next wake-up (at most a minute) sees a reload too.
  await f.write("reports.yaml", scheduledYaml(f.api.url, '        - cron: "45 * * * *"\n'));
  await mesh.reload();
  clock.advanceTo("2026-01-01T00:11:00Z");
  assert.equal(scheduler.nextDue(), Date.parse("2026-01-01T00:45:00Z"));

  await Deno.remove(`${f.dir}/reports.yaml`);
  await f.write(
    "other.yaml",
    scheduledYaml(f.api.url, '        - cron: "0 9 * * *"\n').replace(
      "name: reports",
      "name: other",
    ).replace('      triggers:\n        - cron: "0 9 * * *"\n', ""),
  );
  await mesh.reload();
  scheduler.refresh();
  assert.equal(scheduler.planned, 0);
  assert.equal(scheduler.nextDue(), null);
  clock.advanceTo("2026-01-01T02:00:00Z");
  await scheduler.idle();
  assert.equal(f.api.requests.length, 0);
});

Deno.test("only tools the mesh exposes are scheduled (--tools)", async () => {
  await using f = await fixture();
  await f.write("reports.yaml", scheduledYaml(f.api.url, '        - cron: "* * * * *"\n'));
  const mesh = await f.open({ tools: ["nothing_*"] });
  const { scheduler } = start(mesh, new TestClock("2026-01-01T00:00:00Z"), f.audit);
  await using _s = scheduler;
  assert.equal(scheduler.planned, 0);
});
