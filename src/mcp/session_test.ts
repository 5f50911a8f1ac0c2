import assert from "node:assert/strict";
import { ClientRequestError, McpSession } from "./session.ts";
import { classifyMessage, type JsonRpcMessage, type JsonRpcRequest } from "./jsonrpc.ts";
import { LATEST_PROTOCOL_VERSION, McpEngine, type ToolHost } from "./engine.ts";
import { initializeRequest } from "../../tests/_helpers.ts";

const NO_TOOLS: ToolHost = {
  listTools: () => [],
  callTool: () => Promise.reject(new Error("no tools")),
};

/** An initialized session whose client declared `capabilities`, and what it was sent. */
async function session(capabilities: Record<string, unknown> = { elicitation: {} }) {
  const sent: JsonRpcMessage[] = [];
  const engine = new McpEngine(NO_TOOLS, { name: "t", version: "1" });
  const s = new McpSession(null, (m) => sent.push(m));
  engine.attach(s);
  await engine.handle(
    s,
    classifyMessage(
      initializeRequest({ id: 0, protocolVersion: LATEST_PROTOCOL_VERSION, capabilities }),
    ),
  );
  return { engine, session: s, sent };
}

function answer(engine: McpEngine, s: McpSession, message: Record<string, unknown>) {
  return engine.handle(s, classifyMessage({ jsonrpc: "2.0", ...message }));
}

Deno.test("McpSession.request() refuses a method whose capability the client did not declare, sending nothing", async () => {
  const { session: s, sent } = await session({ roots: {} });
  await assert.rejects(
    s.request("elicitation/create", { message: "Approve?" }),
    (e: unknown) => e instanceof ClientRequestError && /"elicitation" capability/.test(e.message),
  );
  await assert.rejects(s.request("sampling/createMessage", {}), ClientRequestError);
  assert.deepEqual(sent, []);
});

Deno.test("McpSession.request() refuses before initialize and after close", async () => {
  const fresh = new McpSession(null, () => {});
  await assert.rejects(fresh.request("roots/list", {}), /not initialized/);
  const { session: s } = await session();
  s.close();
  await assert.rejects(s.request("elicitation/create", {}), /Session closed/);
});

Deno.test("McpEngine.handle() routes the client's result and error to the request they answer", async () => {
  const { engine, session: s, sent } = await session();
  const first = s.request("elicitation/create", { message: "First?" });
  const second = s.request("elicitation/create", { message: "Second?" });
  const [a, b] = sent as JsonRpcRequest[];
  assert.equal(a.method, "elicitation/create");
  assert.equal(typeof a.id, "string");
  assert.notEqual(a.id, b.id);
  // Answered out of order: each reaches its own request.
  assert.equal(
    await answer(engine, s, { id: b.id, error: { code: -1, message: "User declined" } }),
    null,
  );
  assert.equal(await answer(engine, s, { id: a.id, result: { action: "accept" } }), null);
  assert.deepEqual(await first, { action: "accept" });
  await assert.rejects(
    second,
    (e: unknown) =>
      e instanceof ClientRequestError && e.code === -1 && /User declined/.test(e.message),
  );
});

Deno.test("McpEngine.handle() drops a response to an id the server never sent or already settled", async () => {
  const { engine, session: s, sent } = await session();
  const pending = s.request("elicitation/create", { message: "?" });
  const { id } = sent[0] as JsonRpcRequest;
  for (const stray of [{ id: "loom-999", result: {} }, { id: 1, result: {} }]) {
    assert.equal(await answer(engine, s, stray), null);
  }
  await answer(engine, s, { id, result: { action: "decline" } });
  assert.deepEqual(await pending, { action: "decline" });
  // A second answer to the same id changes nothing and throws nothing.
  assert.equal(await answer(engine, s, { id, result: { action: "accept" } }), null);
});

Deno.test("McpSession.request() ends on its deadline and tells the client it gave up", async () => {
  const { session: s, sent } = await session();
  await assert.rejects(s.request("elicitation/create", {}, { timeoutMs: 1 }), /in time/);
  const [req, cancelled] = sent as [JsonRpcRequest, JsonRpcMessage];
  assert.deepEqual(cancelled, {
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: req.id, reason: "Timed out" },
  });
});

Deno.test("McpSession.request() ends with the call's signal, on close, and when input ends", async () => {
  const { session: s } = await session();
  const controller = new AbortController();
  const byCall = s.request("elicitation/create", {}, { signal: controller.signal });
  controller.abort();
  await assert.rejects(byCall, /Cancelled/);
  const byInput = s.request("elicitation/create", {});
  s.inputEnded();
  await assert.rejects(byInput, /closed its input/);
  const byClose = s.request("elicitation/create", {});
  s.close();
  await assert.rejects(byClose, /Session closed/);
});

Deno.test("McpSession.request() bounds the requests awaiting one client", async () => {
  const { session: s } = await session();
  const waiting = Array.from({ length: 64 }, () => s.request("elicitation/create", {}));
  await assert.rejects(s.request("elicitation/create", {}), /Too many requests/);
  s.close();
  for (const w of waiting) await assert.rejects(w, /Session closed/);
});

Deno.test("classifyMessage() refuses a malformed response", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ id: 1, result: {}, error: { code: 1, message: "x" } }, /not both/],
    [{ id: 1, result: "yes" }, /"result" must be an object/],
    [{ id: 1, result: [1] }, /"result" must be an object/],
    [{ id: 1, error: { code: "1", message: "x" } }, /integer "code"/],
    [{ id: 1, error: { code: 1 } }, /string "message"/],
  ];
  for (const [message, reason] of cases) {
    const c = classifyMessage({ jsonrpc: "2.0", ...message });
    assert.equal(c.kind, "invalid", JSON.stringify(message));
    assert.match((c as { reason: string }).reason, reason);
  }
  const ok = classifyMessage({ jsonrpc: "2.0", id: "loom-1", error: { code: -1, message: "no" } });
  assert.equal(ok.kind, "response");
});
