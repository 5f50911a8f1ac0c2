import assert from "node:assert/strict";
import {
  LATEST_PROTOCOL_VERSION as SDK_LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS as SDK_SUPPORTED_PROTOCOL_VERSIONS,
} from "./_sdk.ts";
import {
  type CallToolResult,
  LATEST_PROTOCOL_VERSION,
  McpEngine,
  McpSession,
  SUPPORTED_PROTOCOL_VERSIONS,
  type ToolHost,
} from "./engine.ts";
import { classifyMessage, type JsonRpcResponse } from "./jsonrpc.ts";
import { initializeRequest } from "../../tests/_helpers.ts";

/** A host whose one tool waits until its call is aborted, then reports why. */
function waitingHost(): ToolHost & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  return {
    signals,
    listTools: () => [{ name: "wait", description: "Wait until aborted", inputSchema: {} }],
    async callTool(_name, _args, ctx): Promise<CallToolResult> {
      signals.push(ctx.signal);
      if (!ctx.signal.aborted) {
        await new Promise((resolve) =>
          ctx.signal.addEventListener("abort", resolve, { once: true })
        );
      }
      const reason = ctx.signal.reason as DOMException;
      return { content: [{ type: "text", text: `${reason.name}: ${reason.message}` }] };
    },
  };
}

function request(id: number, method: string, params: Record<string, unknown> = {}) {
  return classifyMessage({ jsonrpc: "2.0", id, method, params });
}

function callWait(id: number) {
  return request(id, "tools/call", { name: "wait", arguments: {} });
}

function resultText(response: JsonRpcResponse | null): string {
  assert.ok(response && "result" in response, JSON.stringify(response));
  return (response.result as unknown as CallToolResult).content[0].text;
}

async function initializedSession(
  engine: McpEngine,
): Promise<McpSession> {
  const session = new McpSession(null, () => {});
  engine.attach(session);
  const init = await engine.handle(
    session,
    request(
      0,
      "initialize",
      initializeRequest({ protocolVersion: LATEST_PROTOCOL_VERSION, clientName: "test" }).params,
    ),
  );
  assert.ok(init && "result" in init);
  return session;
}

Deno.test("LATEST_PROTOCOL_VERSION and SUPPORTED_PROTOCOL_VERSIONS match the SDK's", () => {
  assert.equal(LATEST_PROTOCOL_VERSION, SDK_LATEST_PROTOCOL_VERSION);
  assert.deepEqual([...SUPPORTED_PROTOCOL_VERSIONS], [...SDK_SUPPORTED_PROTOCOL_VERSIONS]);
  assert.equal(SUPPORTED_PROTOCOL_VERSIONS[0], LATEST_PROTOCOL_VERSION);
  assert.deepEqual(McpEngine.supportedVersions, SUPPORTED_PROTOCOL_VERSIONS);
});

Deno.test("McpEngine initialize answers a supported version as asked, else the latest", async () => {
  const engine = new McpEngine(waitingHost(), { name: "t", version: "1" });
  for (const asked of [...SUPPORTED_PROTOCOL_VERSIONS, "1999-01-01"]) {
    const session = new McpSession(null, () => {});
    const response = await engine.handle(
      session,
      request(1, "initialize", { protocolVersion: asked, capabilities: {} }),
    );
    assert.ok(response && "result" in response);
    const expected = SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : LATEST_PROTOCOL_VERSION;
    assert.equal(response.result.protocolVersion, expected);
    assert.equal(session.protocolVersion, expected);
  }
});

Deno.test("McpEngine.detach() aborts every in-flight tools/call of the session", async () => {
  const host = waitingHost();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const session = await initializedSession(engine);
  const other = await initializedSession(engine);
  const calls = [engine.handle(session, callWait(1)), engine.handle(session, callWait(2))];
  const otherCall = engine.handle(other, callWait(1));
  assert.equal(host.signals.length, 3);
  assert.ok(host.signals.every((s) => !s.aborted));

  engine.detach(session);
  for (const response of await Promise.all(calls)) {
    assert.equal(resultText(response), "AbortError: Session closed");
  }
  // Another session's call is not touched.
  assert.equal(host.signals[2].aborted, false);
  other.cancel(1);
  assert.equal(resultText(await otherCall), "AbortError: Cancelled by the client");
});

Deno.test("McpSession.close() aborts both calls that reuse one request id", async () => {
  const host = waitingHost();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const session = await initializedSession(engine);
  const calls = [engine.handle(session, callWait(7)), engine.handle(session, callWait(7))];
  session.close();
  for (const response of await Promise.all(calls)) {
    assert.equal(resultText(response), "AbortError: Session closed");
  }
});

Deno.test("notifications/cancelled aborts only the named call", async () => {
  const host = waitingHost();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const session = await initializedSession(engine);
  const first = engine.handle(session, callWait(1));
  const second = engine.handle(session, callWait(2));
  await engine.handle(
    session,
    classifyMessage({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 2, reason: "changed my mind" },
    }),
  );
  assert.equal(resultText(await second), "AbortError: Cancelled by the client");
  assert.equal(host.signals[0].aborted, false);
  // The finished call is forgotten: cancelling its id again touches nothing.
  session.cancel(2);
  assert.equal(host.signals[0].aborted, false);
  session.close();
  assert.equal(resultText(await first), "AbortError: Session closed");
});

Deno.test("McpSession.begin() after close() returns an aborted signal", async () => {
  const host = waitingHost();
  const engine = new McpEngine(host, { name: "t", version: "1" });
  const session = await initializedSession(engine);
  session.close();
  const response = await engine.handle(session, callWait(3));
  assert.equal(resultText(response), "AbortError: Session closed");
  assert.equal(host.signals.length, 1);
});

Deno.test("McpEngine initialize announces exactly the capabilities of the methods it serves", async () => {
  const engine = new McpEngine(waitingHost(), { name: "t", version: "1" });
  const session = new McpSession(null, () => {});
  const response = await engine.handle(
    session,
    request(1, "initialize", {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: { elicitation: {}, roots: { listChanged: true }, bogus: 1 },
    }),
  );
  assert.ok(response && "result" in response);
  assert.deepEqual(response.result.capabilities, { tools: { listChanged: true }, logging: {} });
  // The client's declared capabilities are kept by name; a non-object value is not a capability.
  assert.deepEqual([...session.clientCapabilities].sort(), ["elicitation", "roots"]);
});

Deno.test("McpEngine serves only initialize and ping before initialize, and no unknown method", async () => {
  const engine = new McpEngine(waitingHost(), { name: "t", version: "1" });
  const session = new McpSession(null, () => {});
  const ping = await engine.handle(session, request(1, "ping"));
  assert.deepEqual(ping, { jsonrpc: "2.0", id: 1, result: {} });
  for (const method of ["tools/list", "tools/call", "logging/setLevel"]) {
    const refused = await engine.handle(session, request(2, method));
    assert.ok(refused && "error" in refused);
    assert.equal(refused.error.code, -32602, method);
    assert.match(refused.error.message, /^Server not initialized: send initialize first/, method);
  }
  const ready = await initializedSession(engine);
  for (const method of ["resources/list", "prompts/list", "constructor", "__proto__"]) {
    const unknown = await engine.handle(ready, request(3, method));
    assert.ok(unknown && "error" in unknown);
    assert.equal(unknown.error.code, -32601, method);
  }
});
