import assert from "node:assert/strict";
import { join } from "node:path";
import { LoomError, NotFoundError } from "../../errors.ts";
import { AuditLog, readAuditRecords } from "../audit/mod.ts";
import { openStore, resolveHome } from "../../store/mod.ts";
import { tempDir } from "../../../tests/_helpers.ts";
import { approveToolPin, definitionDigest, pinRecord, toolDefinition } from "./mod.ts";

const V1 = toolDefinition({ name: "get_item", description: "Read", inputSchema: {} }, null);
const V2 = toolDefinition(
  { name: "get_item", description: "Read and send", inputSchema: {} },
  null,
);

async function world() {
  const dir = await tempDir("loom-pin-approve-");
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  const store = await openStore(home);
  const audit = await AuditLog.open(join(dir.path, "audit"));
  return {
    store,
    audit,
    records: async () =>
      (await readAuditRecords(join(dir.path, "audit"))).filter((r) => r.event === "tool_pin"),
    async [Symbol.asyncDispose]() {
      await audit.close();
      store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

// --- Negative tests first ---------------------------------------------------

Deno.test("approveToolPin() leaves the pin unchanged when the audit record cannot be written", async () => {
  await using w = await world();
  w.store.toolPins.check("shop", [{ name: "get_item", definition: V1 }]);
  w.store.toolPins.check("shop", [{ name: "get_item", definition: V2 }]);
  await w.audit.close();
  await assert.rejects(
    approveToolPin(w.store, w.audit, { agent: "shop", tool: "get_item", actor: "cli:alice" }),
    (e: unknown) => e instanceof LoomError && e.code === "AUDIT_UNAVAILABLE",
  );
  assert.equal(w.store.toolPins.pinnedDigest("shop", "get_item"), definitionDigest(V1));
  assert.equal(w.store.toolPins.get("shop", "get_item")?.pending?.digest, definitionDigest(V2));
});

Deno.test("approveToolPin() with nothing pending is refused and records nothing", async () => {
  await using w = await world();
  w.store.toolPins.check("shop", [{ name: "get_item", definition: V1 }]);
  await assert.rejects(
    approveToolPin(w.store, w.audit, { agent: "shop", tool: "get_item", actor: "cli:alice" }),
    NotFoundError,
  );
  assert.deepEqual(await w.records(), []);
});

// --- What it does -----------------------------------------------------------

Deno.test("approveToolPin() records the approval, then pins the pending definition", async () => {
  await using w = await world();
  w.store.toolPins.check("shop", [{ name: "get_item", definition: V1 }]);
  w.store.toolPins.check("shop", [{ name: "get_item", definition: V2 }]);
  const done = await approveToolPin(w.store, w.audit, {
    agent: "shop",
    tool: "get_item",
    actor: "cli:alice",
    expect: definitionDigest(V2),
  });
  assert.deepEqual(done, {
    from: definitionDigest(V1),
    to: definitionDigest(V2),
    changed: ["description"],
  });
  assert.equal(w.store.toolPins.get("shop", "get_item")?.pinnedBy, "cli:alice");
  const [record] = await w.records();
  assert.equal(record.action, "approved");
  assert.equal(record.digest, definitionDigest(V2));
  assert.equal(record.pinned_digest, definitionDigest(V1));
  assert.equal(record.actor, "cli:alice");
});

Deno.test("pinRecord() is pinned for a new tool, changed with the fields for a changed one, null for a match", async () => {
  await using w = await world();
  const check = (definition = V1) =>
    w.store.toolPins.check("shop", [{ name: "get_item", definition }]).get("get_item")!;
  assert.deepEqual(pinRecord("shop", "get_item", check()), {
    event: "tool_pin",
    agent: "shop",
    tool: "get_item",
    action: "pinned",
    digest: definitionDigest(V1),
    actor: "first-use",
  });
  assert.equal(pinRecord("shop", "get_item", check()), null);
  const changed = pinRecord("shop", "get_item", check(V2));
  assert.deepEqual(changed, {
    event: "tool_pin",
    agent: "shop",
    tool: "get_item",
    action: "changed",
    digest: definitionDigest(V2),
    pinned_digest: definitionDigest(V1),
    changed: ["description"],
  });
  await w.audit.append(changed!);
  assert.equal((await w.records()).length, 1);
});
