import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { AuditLog, readAuditRecords } from "../../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { openStore, resolveHome } from "../../store/mod.ts";
import { AgentGate } from "./gate.ts";
import { writeReadConfig } from "./_testing.ts";
import { startUpstream, tempDir } from "../../../tests/_helpers.ts";

const RULE =
  '\n    - { name: big-amount, reason: "Large amounts need a look", param_gt: { amount: 500 } }';
const BIG = { title: "t", amount: 900 };

async function fixture() {
  const dir = await tempDir("loom-round-trip-");
  const api = await startUpstream(() => Response.json({ ok: true }));
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  const audit = await AuditLog.open(`${dir.path}/audit`);
  const yaml = writeReadConfig(api.url, { name: "shop", tier: 2, rules: RULE, sandbox: "none" });
  const gate = new AgentGate(parseConfig(yaml, { path: "shop.yaml" }), {
    audit,
    approvals: { home },
  });
  return {
    gate,
    api,
    home,
    records: () => readAuditRecords(`${dir.path}/audit`, {}),
    async [Symbol.asyncDispose]() {
      await gate.close();
      await audit.close();
      await api.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** A 2026-07-28 call's context (no requests to the client; input_required instead). */
function modern(extra: Partial<ToolCallContext> = {}, capabilities = ["elicitation"]) {
  return {
    signal: new AbortController().signal,
    sessionId: null,
    client: { name: "modern-client", version: "1" },
    caller: "http",
    log: () => {},
    acceptsInputRequired: true,
    clientCapabilities: new Set(capabilities),
    ...extra,
  } satisfies ToolCallContext;
}

const text = (r: CallToolResult) => r.content.map((c) => c.text).join("");
const ACCEPT = { approve: { action: "accept", content: { approve: true } } };

// --- Negative tests first ---------------------------------------------------

Deno.test("round trip: a 2026-07-28 client without elicitation gets the plain held error", async () => {
  await using f = await fixture();
  const res = await f.gate.callTool("create_item", BIG, modern({}, []));
  assert.equal(res.isError, true);
  assert.equal(res.inputRequired, undefined);
  assert.equal(f.api.requests.length, 0);
});

Deno.test("round trip: a forged, altered or misbound requestState is rejected and runs nothing", async () => {
  await using f = await fixture();
  const asked = await f.gate.callTool("create_item", BIG, modern());
  const state = asked.inputRequired?.requestState;
  assert.ok(state);
  const [v, payload, mac] = state.split(".");
  const flipped = mac[0] === "A" ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
  const forgedPayload = btoa('["0000000000000000","shop","create_item","x","y",null,1e15]')
    .replaceAll("=", "");
  for (const bad of [`${v}.${payload}.${flipped}`, `${v}.${forgedPayload}.${mac}`, "garbage"]) {
    const res = await f.gate.callTool(
      "create_item",
      BIG,
      modern({ requestState: bad, inputResponses: ACCEPT }),
    );
    assert.equal(res.isError, true);
    assert.match(text(res), /failed verification/);
    assert.equal(res.inputRequired, undefined, "never asks again on a retry");
  }
  // A genuine state, but sent with other arguments: not for this call.
  const other = await f.gate.callTool(
    "create_item",
    { title: "t", amount: 901 },
    modern({ requestState: state, inputResponses: ACCEPT }),
  );
  assert.match(text(other), /failed verification/);
  assert.equal(f.api.requests.length, 0);
  await using store = await openStore(f.home);
  assert.ok(store.approvals.list().every((a) => a.status === "pending"));
});

Deno.test("round trip: a declined answer leaves the approval pending and does not ask again", async () => {
  await using f = await fixture();
  const asked = await f.gate.callTool("create_item", BIG, modern());
  const res = await f.gate.callTool(
    "create_item",
    BIG,
    modern({
      requestState: asked.inputRequired?.requestState,
      inputResponses: { approve: { action: "decline" } },
    }),
  );
  assert.equal(res.isError, true);
  assert.equal(res.inputRequired, undefined);
  assert.match(text(res), /is pending/);
  assert.equal(f.api.requests.length, 0);
});

// --- Approving by round trip ---------------------------------------------------

Deno.test("round trip: input_required asks once; the signed answer approves and runs the call once", async () => {
  await using f = await fixture();
  const asked = await f.gate.callTool("create_item", BIG, modern());
  const input = asked.inputRequired;
  assert.ok(input);
  const request = input.inputRequests?.approve;
  assert.equal(request?.method, "elicitation/create");
  assert.equal(request?.params.mode, "form");
  assert.match(String(request?.params.message), /"create_item"/);
  assert.equal(f.api.requests.length, 0);

  const retry = modern({ requestState: input.requestState, inputResponses: ACCEPT });
  const ran = await f.gate.callTool("create_item", BIG, retry);
  assert.equal(ran.isError, undefined, text(ran));
  assert.equal(f.api.requests.length, 1);
  // Replaying the same state and answer does not run it again.
  const replay = await f.gate.callTool("create_item", BIG, retry);
  assert.equal(replay.isError, true);
  assert.equal(f.api.requests.length, 1);
  const approvals = (await f.records()).filter((r) => r.event === "approval");
  assert.deepEqual(approvals.slice(0, 3).map((r) => [r.action, r.actor]), [
    ["requested", undefined],
    ["approved", "inline:http"],
    ["consumed", undefined],
  ]);
});
