import assert from "node:assert/strict";
import {
  type CallToolResult,
  McpEngine,
  McpSession,
  META,
  MODERN_PROTOCOL_VERSION,
  type ToolCallContext,
  type ToolHost,
} from "./engine.ts";
import { classifyMessage, type JsonRpcResponse } from "./jsonrpc.ts";
import { initializeRequest } from "../../tests/_helpers.ts";

const META_OK = {
  [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
  [META.clientInfo]: { name: "mrtr-test", version: "1.0.0" },
  [META.clientCapabilities]: { elicitation: {} },
};

const ASK = {
  inputRequests: { approve: { method: "elicitation/create", params: { message: "ok?" } } },
  requestState: "opaque",
};

/** A host that asks for input whenever it may, and records what it was given. */
function asker(): ToolHost & { contexts: ToolCallContext[] } {
  const contexts: ToolCallContext[] = [];
  return {
    contexts,
    listTools: () => [{ name: "act", description: "act", inputSchema: {} }],
    callTool(_name, _args, ctx): Promise<CallToolResult> {
      contexts.push(ctx);
      return Promise.resolve({
        content: [{ type: "text", text: "held" }],
        isError: true,
        inputRequired: ctx.requestState === undefined ? ASK : undefined,
      });
    },
  };
}

function modern(id: number, params: Record<string, unknown>) {
  return classifyMessage({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "act", arguments: {}, ...params, _meta: META_OK },
  });
}

function result(response: JsonRpcResponse | null): Record<string, unknown> {
  assert.ok(response && "result" in response, JSON.stringify(response));
  return response.result;
}

// --- Negative tests first ---------------------------------------------------

Deno.test("McpEngine refuses a 2026-07-28 retry whose inputResponses or requestState is malformed (-32602)", async () => {
  const host = asker();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  for (
    const bad of [
      { inputResponses: [] },
      { inputResponses: "yes" },
      { inputResponses: null },
      { requestState: 7 },
      { requestState: "x".repeat(8193) },
    ]
  ) {
    const response = await engine.handle(new McpSession(null, () => {}), modern(1, bad));
    assert.ok(response && "error" in response, JSON.stringify(bad));
    assert.equal(response.error.code, -32602);
  }
  assert.equal(host.contexts.length, 0, "the host never saw them");
});

Deno.test("McpEngine never sends input_required to a session client: it answers the content", async () => {
  const host = asker();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const session = new McpSession(null, () => {});
  await engine.handle(session, classifyMessage(initializeRequest()));
  const response = await engine.handle(
    session,
    classifyMessage({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "act", arguments: {}, requestState: "forged", inputResponses: {} },
    }),
  );
  const body = result(response);
  assert.equal(body.resultType, undefined);
  assert.equal(body.isError, true);
  assert.equal(body.inputRequired, undefined);
  assert.equal(host.contexts[0].acceptsInputRequired, false);
  assert.equal(host.contexts[0].requestState, undefined, "a session request carries none");
  assert.equal(host.contexts[0].inputResponses, undefined);
});

// --- input_required ---------------------------------------------------------

Deno.test("McpEngine answers a host's inputRequired as an InputRequiredResult with only its fields", async () => {
  const host = asker();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const body = result(await engine.handle(new McpSession(null, () => {}), modern(1, {})));
  assert.deepEqual(Object.keys(body).sort(), [
    "_meta",
    "inputRequests",
    "requestState",
    "resultType",
  ]);
  assert.equal(body.resultType, "input_required");
  assert.deepEqual(body.inputRequests, ASK.inputRequests);
  assert.equal(body.requestState, "opaque");
  assert.equal(host.contexts[0].acceptsInputRequired, true);
  assert.ok(host.contexts[0].clientCapabilities?.has("elicitation"));
});

Deno.test("McpEngine hands a 2026-07-28 retry's inputResponses and requestState to the host", async () => {
  const host = asker();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const answer = { approve: { action: "accept", content: { approve: true } } };
  const body = result(
    await engine.handle(
      new McpSession(null, () => {}),
      modern(2, { inputResponses: answer, requestState: "opaque" }),
    ),
  );
  assert.equal(body.resultType, "complete");
  assert.deepEqual(host.contexts[0].inputResponses, answer);
  assert.equal(host.contexts[0].requestState, "opaque");
});
