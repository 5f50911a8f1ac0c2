import assert from "node:assert/strict";
import { AUDIT_EVENTS, type AuditEvent, type AuditEventName } from "./events.ts";
import { rawEntry, stopEvent, tempDir } from "./_testing.ts";
import { AuditLog } from "./log.ts";
import { readAuditRecords } from "./query.ts";

/** True only when A and B are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

Deno.test("AUDIT_EVENTS names exactly the events of the AuditEvent union", () => {
  const same: Same<AuditEvent["event"], AuditEventName> = true;
  assert.equal(same, true);
  assert.equal(new Set(AUDIT_EVENTS).size, AUDIT_EVENTS.length);
});

Deno.test("AuditLog.append() refuses an event name that events.ts does not define, even cast", async () => {
  await using dir = await tempDir();
  await using log = await AuditLog.open(dir.path);
  for (const event of ["config", "approvals", "http_bridge", "Tool_call", ""]) {
    await assert.rejects(log.append(rawEntry({ event, agent: "a" } as never)), TypeError);
  }
  await log.append(stopEvent());
  assert.equal(log.last.seq, 1);
});

Deno.test("AuditLog.append() stores a typed event's fields as the union names them", async () => {
  await using dir = await tempDir();
  {
    await using log = await AuditLog.open(dir.path);
    await log.append({
      event: "agent_lifecycle",
      agent: "github",
      tool: null,
      action: "start",
      transport: "stdio",
      config_digest: "sha256:" + "0".repeat(64),
      tools: 3,
    });
  }
  const [record] = await readAuditRecords(dir.path);
  assert.equal(record.event, "agent_lifecycle");
  assert.equal(record.action, "start");
  assert.equal(record.tools, 3);
});
