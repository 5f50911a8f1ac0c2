/**
 * The 2026-07-28 side of `/mcp`: stateless requests, the headers that mirror
 * their body, answers as JSON or as an SSE stream, and `subscriptions/listen`.
 */

import assert from "node:assert/strict";
import { type CallToolResult, McpEngine, META, MODERN_PROTOCOL_VERSION } from "../mcp/mod.ts";
import { createMcpApp } from "./mcp_http.ts";
import { originPolicy } from "./guard.ts";
import { INITIALIZE } from "../../tests/_helpers.ts";

const LOOPBACK = { remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 } };
const META_OK = {
  [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
  [META.clientInfo]: { name: "stateless-test", version: "1" },
  [META.clientCapabilities]: {},
};

/** An app over a host with a `region` tool (its argument mirrored in a header) and a slow one. */
function fixture() {
  let release = () => {};
  const aborted: Promise<void>[] = [];
  const engine = new McpEngine({
    listTools: () => [
      {
        name: "region",
        description: "Echo a region",
        inputSchema: {
          type: "object",
          properties: {
            region: { type: "string", "x-mcp-header": "Region" },
            n: { type: "integer" },
          },
        },
      },
      { name: "slow", description: "Wait for release", inputSchema: { type: "object" } },
    ],
    async callTool(name, args, ctx): Promise<CallToolResult> {
      ctx.log("info", `calling ${name}`);
      ctx.progress?.(1, 2);
      if (name === "slow") {
        aborted.push(
          new Promise((resolve) =>
            ctx.signal.addEventListener("abort", () => resolve(), { once: true })
          ),
        );
        await new Promise<void>((resolve) => {
          release = resolve;
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      ctx.progress?.(2, 2);
      return { content: [{ type: "text", text: JSON.stringify(args ?? {}) }] };
    },
  }, { name: "t", version: "1" });
  const http = createMcpApp(engine, { policy: originPolicy("127.0.0.1") });
  const post = (
    method: string,
    params: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) =>
    http.app.request("http://127.0.0.1:8400/mcp", {
      method: "POST",
      headers: withOverrides({
        host: "127.0.0.1:8400",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": MODERN_PROTOCOL_VERSION,
        "mcp-method": method,
        ...(typeof params.name === "string" ? { "mcp-name": params.name } : {}),
      }, headers),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 9,
        method,
        params: { ...params, _meta: { ...META_OK, ...(params._meta as object | undefined) } },
      }),
    }, LOOPBACK);
  return { engine, http, post, aborted, release: () => release() };
}

/** Default headers with others set over them, names compared without case. */
function withOverrides(defaults: Record<string, string>, overrides: Record<string, string>) {
  const headers = new Headers(defaults);
  for (const [name, value] of Object.entries(overrides)) headers.set(name, value);
  return headers;
}

/** The JSON-RPC messages of an SSE body, read until `count` have arrived. */
async function events(res: Response, count: number): Promise<Record<string, unknown>[]> {
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const out: Record<string, unknown>[] = [];
  let buffer = "";
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").find((l) => l.startsWith("data: "));
      if (data) out.push(JSON.parse(data.slice(6)));
    }
  }
  await reader.cancel();
  return out;
}

Deno.test("POST /mcp refuses a stateless request whose headers disagree with its body, with 400 and -32020", async () => {
  const f = fixture();
  try {
    const cases: [string, Record<string, string>, Record<string, unknown>][] = [
      ["version header differs", { "mcp-protocol-version": "2025-11-25" }, {}],
      ["version header missing", { "mcp-protocol-version": "" }, {}],
      ["method differs", { "mcp-method": "TOOLS/CALL" }, {}],
      ["name differs", { "mcp-name": "slow" }, {}],
      ["name missing", { "mcp-name": "" }, {}],
      ["param header missing", {}, { region: "eu" }],
      ["param header differs", { "mcp-param-region": "us" }, { region: "eu" }],
      ["param header bad base64", { "mcp-param-region": "=?base64?ZXU?=" }, { region: "eu" }],
      ["param header bad alphabet", { "mcp-param-region": "=?base64?Z!U=?=" }, { region: "eu" }],
    ];
    for (const [label, headers, args] of cases) {
      const sent = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ""));
      const dropped = Object.keys(headers).filter((k) => headers[k] === "");
      const res = await f.http.app.request("http://127.0.0.1:8400/mcp", {
        method: "POST",
        headers: Object.fromEntries(
          Object.entries({
            host: "127.0.0.1:8400",
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-protocol-version": MODERN_PROTOCOL_VERSION,
            "mcp-method": "tools/call",
            "mcp-name": "region",
            ...sent,
          }).filter(([k]) => !dropped.includes(k)),
        ),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 3,
          method: "tools/call",
          params: { name: "region", arguments: args, _meta: META_OK },
        }),
      }, LOOPBACK);
      assert.equal(res.status, 400, label);
      const body = await res.json();
      assert.equal(body.id, 3, label);
      assert.equal(body.error.code, -32020, label);
    }
  } finally {
    f.http.close();
  }
});

Deno.test("POST /mcp accepts mirrored headers in any name case, padded, and base64-encoded", async () => {
  const f = fixture();
  try {
    const res = await f.post("tools/call", {
      name: "region",
      arguments: { region: "Zürich", n: 42 },
    }, {
      "MCP-NAME": "  region  ",
      "Mcp-Param-Region": `=?base64?${
        btoa(String.fromCharCode(...new TextEncoder().encode("Zürich")))
      }?=`,
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.result.resultType, "complete");
    assert.deepEqual(JSON.parse(body.result.content[0].text), { region: "Zürich", n: 42 });
  } finally {
    f.http.close();
  }
});

Deno.test("POST /mcp stateless errors carry their HTTP status: unknown method 404, bad _meta and unsupported version 400", async () => {
  const f = fixture();
  try {
    const unknown = await f.post("ping", {});
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, -32601);
    const old = await f.post("tools/list", { _meta: { [META.protocolVersion]: "1999-01-01" } }, {
      "mcp-protocol-version": "1999-01-01",
    });
    assert.equal(old.status, 400);
    assert.equal((await old.json()).error.code, -32022);
    const noCaps = await f.post("tools/list", { _meta: { [META.clientCapabilities]: undefined } });
    assert.equal(noCaps.status, 400);
    assert.equal((await noCaps.json()).error.code, -32602);
    // No session was made for any of them.
    assert.equal(f.http.sessionCount(), 0);
  } finally {
    f.http.close();
  }
});

Deno.test("POST /mcp answers a stateless tools/call as JSON unless it asked for progress or logs, then as SSE", async () => {
  const f = fixture();
  try {
    const plain = await f.post("tools/call", { name: "region", arguments: {} });
    assert.equal(plain.headers.get("content-type"), "application/json");
    assert.equal((await plain.json()).result.resultType, "complete");

    const streamed = await f.post("tools/call", {
      name: "region",
      arguments: {},
      _meta: { progressToken: "t1", [META.logLevel]: "info" },
    });
    assert.equal(streamed.headers.get("x-accel-buffering"), "no");
    const frames = await events(streamed, 4);
    assert.deepEqual(frames.map((m) => m.method ?? "response"), [
      "notifications/message",
      "notifications/progress",
      "notifications/progress",
      "response",
    ]);
    assert.equal((frames[3].result as Record<string, unknown>).resultType, "complete");
  } finally {
    f.http.close();
  }
});

Deno.test("Closing a stateless tools/call's SSE stream cancels the call", async () => {
  const f = fixture();
  try {
    const res = await f.post("tools/call", {
      name: "slow",
      arguments: {},
      _meta: { progressToken: 1 },
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first progress: the call is running
    await reader.cancel();
    // The host's signal aborts: the call ends without release().
    await f.aborted[0];
  } finally {
    f.http.close();
  }
});

Deno.test("subscriptions/listen over HTTP: an SSE stream, acknowledged first, told of tool changes, ended at close", async () => {
  const f = fixture();
  try {
    const res = await f.post("subscriptions/listen", { notifications: { toolsListChanged: true } });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const frames: string[] = [];
    const next = async () => {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return null;
        frames.push(value);
        const data = value.split("\n").find((l) => l.startsWith("data: "));
        if (data) return JSON.parse(data.slice(6));
      }
    };
    const ack = await next();
    assert.equal(ack.method, "notifications/subscriptions/acknowledged");
    assert.equal(ack.params._meta[META.subscriptionId], 9);
    f.engine.notifyToolsChanged();
    const changed = await next();
    assert.equal(changed.method, "notifications/tools/list_changed");
    assert.equal(changed.params._meta[META.subscriptionId], 9);
    f.http.close();
    const end = await next();
    assert.deepEqual(end, {
      jsonrpc: "2.0",
      id: 9,
      result: { resultType: "complete", _meta: { [META.subscriptionId]: 9 } },
    });
    assert.equal(await next(), null);
  } finally {
    f.http.close();
  }
});

Deno.test("POST /mcp keeps the session era: initialize still opens a session, and a session request is answered as before", async () => {
  const f = fixture();
  try {
    const init = await f.http.app.request("http://127.0.0.1:8400/mcp", {
      method: "POST",
      headers: {
        host: "127.0.0.1:8400",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify(INITIALIZE),
    }, LOOPBACK);
    assert.equal(init.status, 200);
    const sid = init.headers.get("mcp-session-id");
    assert.ok(sid);
    await init.body?.cancel();
    const listed = await f.http.app.request("http://127.0.0.1:8400/mcp", {
      method: "POST",
      headers: {
        host: "127.0.0.1:8400",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sid,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    }, LOOPBACK);
    const body = await listed.json();
    assert.deepEqual(Object.keys(body.result), ["tools"]);
  } finally {
    f.http.close();
  }
});

Deno.test("A client's open subscriptions keep counting against its stream quota after its last session ends", async () => {
  const engine = new McpEngine({ listTools: () => [], callTool: () => Promise.reject() }, {
    name: "t",
    version: "1",
  });
  const http = createMcpApp(engine, { policy: originPolicy("127.0.0.1"), maxStreamsPerClient: 1 });
  const base = {
    host: "127.0.0.1:8400",
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  const listen = () =>
    http.app.request("http://127.0.0.1:8400/mcp", {
      method: "POST",
      headers: {
        ...base,
        "mcp-protocol-version": MODERN_PROTOCOL_VERSION,
        "mcp-method": "subscriptions/listen",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "subscriptions/listen",
        params: { notifications: { toolsListChanged: true }, _meta: META_OK },
      }),
    }, LOOPBACK);
  try {
    const open = await listen();
    assert.equal(open.status, 200);
    const init = await http.app.request("http://127.0.0.1:8400/mcp", {
      method: "POST",
      headers: base,
      body: JSON.stringify(INITIALIZE),
    }, LOOPBACK);
    const sid = init.headers.get("mcp-session-id")!;
    await init.body?.cancel();
    const ended = await http.app.request("http://127.0.0.1:8400/mcp", {
      method: "DELETE",
      headers: { ...base, "mcp-session-id": sid },
    }, LOOPBACK);
    assert.equal(ended.status, 200);
    const second = await listen();
    assert.equal(second.status, 429, "the open subscription still counts");
    await second.body?.cancel();
    await open.body?.cancel();
  } finally {
    http.close();
  }
});
