import assert from "node:assert/strict";
import {
  type CallToolResult,
  LATEST_PROTOCOL_VERSION,
  McpEngine,
  McpSession,
  META,
  MODERN_PROTOCOL_VERSION,
  type ToolHost,
} from "./engine.ts";
import { classifyMessage, type JsonRpcMessage, type JsonRpcResponse } from "./jsonrpc.ts";
import { initializeRequest } from "../../tests/_helpers.ts";

const META_OK = {
  [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
  [META.clientInfo]: { name: "modern-test", version: "1.0.0" },
  [META.clientCapabilities]: {},
};

/** A host whose `echo` tool logs at info and debug, reports progress twice and answers. */
function host(tools = ["echo"]): ToolHost & { contexts: Parameters<ToolHost["callTool"]>[2][] } {
  const contexts: Parameters<ToolHost["callTool"]>[2][] = [];
  return {
    contexts,
    listTools: () => tools.map((name) => ({ name, description: name, inputSchema: {} })),
    callTool(name, _args, ctx): Promise<CallToolResult> {
      contexts.push(ctx);
      ctx.log("debug", "debug line");
      ctx.log("info", "info line");
      ctx.progress?.(1, 2);
      ctx.progress?.(1, 2); // not increasing: dropped
      ctx.progress?.(2, 2);
      return Promise.resolve({ content: [{ type: "text", text: `called ${name}` }] });
    },
  };
}

function modern(id: number, method: string, params: Record<string, unknown> = {}) {
  return classifyMessage({
    jsonrpc: "2.0",
    id,
    method,
    params: { ...params, _meta: { ...META_OK, ...(params._meta as object | undefined) } },
  });
}

/** A fresh per-request session, as the HTTP transport makes one, recording what it is sent. */
function requestSession(): { session: McpSession; sent: JsonRpcMessage[] } {
  const sent: JsonRpcMessage[] = [];
  return { session: new McpSession(null, (m) => sent.push(m)), sent };
}

function result(response: JsonRpcResponse | null): Record<string, unknown> {
  assert.ok(response && "result" in response, JSON.stringify(response));
  return response.result;
}

function errorOf(response: JsonRpcResponse | null) {
  assert.ok(response && "error" in response, JSON.stringify(response));
  return response.error;
}

Deno.test("McpEngine refuses a stateless request whose _meta lacks a required field with -32602 and its id", async () => {
  const engine = new McpEngine(host(), { name: "t", version: "1" });
  const cases: Record<string, unknown>[] = [
    {},
    { _meta: { [META.clientCapabilities]: {} } },
    { _meta: { [META.protocolVersion]: MODERN_PROTOCOL_VERSION } },
    { _meta: { ...META_OK, [META.clientCapabilities]: [] } },
    { _meta: { ...META_OK, [META.logLevel]: "loud" } },
  ];
  for (const [i, params] of cases.entries()) {
    const { session } = requestSession();
    const response = await engine.handle(
      session,
      classifyMessage({ jsonrpc: "2.0", id: 100 + i, method: "server/discover", params }),
    );
    assert.equal(errorOf(response).code, -32602, JSON.stringify(params));
    assert.equal(response!.id, 100 + i);
  }
});

Deno.test("McpEngine answers an unsupported stateless version with -32022 naming the supported and the requested", async () => {
  const engine = new McpEngine(host(), { name: "t", version: "1" });
  for (const requested of ["v999.0.0", LATEST_PROTOCOL_VERSION]) {
    const response = await engine.handle(
      requestSession().session,
      modern(7, "tools/list", { _meta: { [META.protocolVersion]: requested } }),
    );
    const error = errorOf(response);
    assert.equal(error.code, -32022);
    assert.deepEqual(error.data, { supported: [MODERN_PROTOCOL_VERSION], requested });
  }
});

Deno.test("McpEngine serves server/discover without clientInfo: versions, capabilities, identity, cache hints", async () => {
  const engine = new McpEngine(host(), { name: "loom-t", version: "9.9", instructions: "Use it" });
  const discovered = result(
    await engine.handle(
      requestSession().session,
      classifyMessage({
        jsonrpc: "2.0",
        id: 1,
        method: "server/discover",
        params: {
          _meta: {
            [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
            [META.clientCapabilities]: {},
          },
        },
      }),
    ),
  );
  assert.equal(discovered.resultType, "complete");
  assert.deepEqual((discovered.supportedVersions as string[]).slice(0, 2), [
    MODERN_PROTOCOL_VERSION,
    LATEST_PROTOCOL_VERSION,
  ]);
  assert.deepEqual(Object.keys(discovered.capabilities as object).sort(), [
    "logging",
    "prompts",
    "resources",
    "tools",
  ]);
  assert.deepEqual((discovered._meta as Record<string, unknown>)[META.serverInfo], {
    name: "loom-t",
    version: "9.9",
  });
  assert.equal(discovered.instructions, "Use it");
  assert.ok(Number.isInteger(discovered.ttlMs) && (discovered.ttlMs as number) >= 0);
  assert.equal(discovered.cacheScope, "public");
});

Deno.test("McpEngine answers initialize, ping and logging/setLevel sent with stateless _meta as unknown methods", async () => {
  const engine = new McpEngine(host(), { name: "t", version: "1" });
  for (const method of ["initialize", "ping", "logging/setLevel", "resources/subscribe", "x/y"]) {
    const response = await engine.handle(requestSession().session, modern(5, method));
    assert.equal(errorOf(response).code, -32601, method);
    assert.equal(response!.id, 5);
  }
});

Deno.test("McpEngine lists with resultType and cache hints, and empty prompts and resources", async () => {
  const engine = new McpEngine(host(["b", "a"]), { name: "t", version: "1" });
  const tools = result(await engine.handle(requestSession().session, modern(1, "tools/list")));
  assert.deepEqual((tools.tools as { name: string }[]).map((t) => t.name), ["b", "a"]);
  assert.equal(tools.resultType, "complete");
  assert.ok(Number.isInteger(tools.ttlMs));
  assert.equal(tools.cacheScope, "public");
  for (
    const [method, key] of [
      ["prompts/list", "prompts"],
      ["resources/list", "resources"],
      ["resources/templates/list", "resourceTemplates"],
    ]
  ) {
    const listed = result(await engine.handle(requestSession().session, modern(2, method)));
    assert.deepEqual(listed[key], [], method);
    assert.equal(listed.cacheScope, "public", method);
  }
  const read = await engine.handle(
    requestSession().session,
    modern(3, "resources/read", { uri: "file:///x" }),
  );
  assert.equal(errorOf(read).code, -32602);
  assert.deepEqual(errorOf(read).data, { uri: "file:///x" });
});

Deno.test("McpEngine stateless tools/call: resultType, logs only at the asked level, progress only with a token, no requests to the client", async () => {
  const h = host();
  const engine = new McpEngine(h, { name: "t", version: "1" });
  const quiet = requestSession();
  const answer = result(
    await engine.handle(quiet.session, modern(1, "tools/call", { name: "echo", arguments: {} })),
  );
  assert.equal(answer.resultType, "complete");
  assert.deepEqual(answer.content, [{ type: "text", text: "called echo" }]);
  assert.deepEqual(quiet.sent, [], "no logLevel and no progressToken: nothing is sent");
  assert.equal(h.contexts[0].request, undefined);

  const streamed: JsonRpcMessage[] = [];
  await engine.handle(
    requestSession().session,
    modern(2, "tools/call", {
      name: "echo",
      _meta: { [META.logLevel]: "info", progressToken: "p-1" },
    }),
    { notify: (n) => streamed.push(n) },
  );
  assert.deepEqual(streamed, [
    {
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level: "info", logger: "loom", data: "info line" },
    },
    {
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: "p-1", progress: 1, total: 2 },
    },
    {
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: "p-1", progress: 2, total: 2 },
    },
  ]);
});

Deno.test("McpEngine keeps a legacy session unchanged beside stateless requests", async () => {
  const engine = new McpEngine(host(), { name: "t", version: "1" });
  const sent: JsonRpcMessage[] = [];
  const session = new McpSession(null, (m) => sent.push(m));
  engine.attach(session);
  const init = result(
    await engine.handle(
      session,
      classifyMessage(
        initializeRequest({ protocolVersion: LATEST_PROTOCOL_VERSION, clientName: "legacy" }),
      ),
    ),
  );
  assert.deepEqual(Object.keys(init.capabilities as object).sort(), ["logging", "tools"]);
  const listed = result(
    await engine.handle(session, classifyMessage({ jsonrpc: "2.0", id: 2, method: "tools/list" })),
  );
  assert.deepEqual(Object.keys(listed), ["tools"], "no stateless fields in a session");
  // A stateless request on the same stdio connection is served as such.
  const discovered = result(await engine.handle(session, modern(3, "server/discover")));
  assert.equal(discovered.resultType, "complete");
  assert.equal(session.protocolVersion, LATEST_PROTOCOL_VERSION);
});

Deno.test("subscriptions/listen: acknowledged first, tagged, filtered; setHost() announces a changed tool list", async () => {
  const hostOf = (tools: string[]): ToolHost => ({
    listTools: () => tools.map((name) => ({ name, description: name, inputSchema: {} })),
    callTool: () => Promise.resolve({ content: [] }),
  });
  const engine = new McpEngine(hostOf(["a"]), { name: "t", version: "1" });
  const legacySent: JsonRpcMessage[] = [];
  const legacy = new McpSession(null, (m) => legacySent.push(m));
  engine.attach(legacy);
  await engine.handle(
    legacy,
    classifyMessage(
      initializeRequest({ protocolVersion: LATEST_PROTOCOL_VERSION, clientName: "legacy" }),
    ),
  );

  const toolsStream: JsonRpcMessage[] = [];
  const toolsSub = requestSession();
  const toolsDone = engine.handle(
    toolsSub.session,
    modern(41, "subscriptions/listen", { notifications: { toolsListChanged: true } }),
    { notify: (n) => toolsStream.push(n) },
  );
  const promptsStream: JsonRpcMessage[] = [];
  const promptsSub = requestSession();
  const promptsDone = engine.handle(
    promptsSub.session,
    modern(42, "subscriptions/listen", { notifications: { promptsListChanged: true } }),
    { notify: (n) => promptsStream.push(n) },
  );
  assert.equal(engine.subscriptionCount, 2);

  engine.setHost(hostOf(["a"])); // the same tools: nothing to announce
  engine.setHost(hostOf(["a", "b"]));

  assert.deepEqual(toolsStream, [
    {
      jsonrpc: "2.0",
      method: "notifications/subscriptions/acknowledged",
      params: { _meta: { [META.subscriptionId]: 41 }, notifications: { toolsListChanged: true } },
    },
    {
      jsonrpc: "2.0",
      method: "notifications/tools/list_changed",
      params: { _meta: { [META.subscriptionId]: 41 } },
    },
  ]);
  assert.deepEqual(promptsStream, [
    {
      jsonrpc: "2.0",
      method: "notifications/subscriptions/acknowledged",
      params: { _meta: { [META.subscriptionId]: 42 }, notifications: {} },
    },
  ]);
  assert.deepEqual(legacySent, [{ jsonrpc: "2.0", method: "notifications/tools/list_changed" }]);

  // The client cancels one (closes its stream): no answer at all.
  promptsSub.session.close();
  assert.equal(await promptsDone, null);
  // The server ends the other: a complete result tagged with its id.
  engine.close();
  assert.deepEqual(await toolsDone, {
    jsonrpc: "2.0",
    id: 41,
    result: { resultType: "complete", _meta: { [META.subscriptionId]: 41 } },
  });
  assert.equal(engine.subscriptionCount, 0);
});
