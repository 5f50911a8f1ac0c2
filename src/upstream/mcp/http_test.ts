/**
 * The HTTP upstream against a real `Deno.serve` server on 127.0.0.1: the
 * session era (JSON and SSE answers, the session header, its expiry, DELETE
 * on close), the 2026-07-28 era (per-request `_meta` and mirrored headers,
 * `auto` falling back to initialize), the destination check and the cap.
 */

import assert from "node:assert/strict";
import { LoomError } from "../../errors.ts";
import { McpUpstream, type McpUpstreamOptions } from "./mod.ts";

interface Seen {
  method: string;
  headers: Headers;
  body: Record<string, unknown> | null;
}

/** A small MCP server; `modern` serves server/discover statelessly. */
function serve(options: { modern?: boolean; big?: number } = {}) {
  const seen: Seen[] = [];
  const sessions = new Set<string>();
  let count = 0;
  const json = (body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      headers: { "content-type": "application/json", ...headers },
    });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = req.method === "POST" ? await req.json() as Record<string, unknown> : null;
    seen.push({ method: req.method, headers: req.headers, body });
    const session = req.headers.get("mcp-session-id");
    if (req.method === "DELETE") {
      sessions.delete(session ?? "");
      return new Response(null, { status: 200 });
    }
    const id = body!.id;
    const method = body!.method as string;
    const params = (body!.params ?? {}) as Record<string, unknown>;
    if (method === "server/discover") {
      if (!options.modern) {
        return json({ jsonrpc: "2.0", id, error: { code: -32601, message: "no" } });
      }
      return json({
        jsonrpc: "2.0",
        id,
        result: {
          supportedVersions: ["2026-07-28", "2025-11-25"],
          capabilities: { tools: {} },
          _meta: { "io.modelcontextprotocol/serverInfo": { name: "modern", version: "2" } },
        },
      });
    }
    if (method === "initialize") {
      const sid = `session-${++count}`;
      sessions.add(sid);
      return json({
        jsonrpc: "2.0",
        id,
        result: { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "old" } },
      }, { "mcp-session-id": sid });
    }
    if (!options.modern && (session === null || !sessions.has(session))) {
      return new Response("unknown session", { status: 404 });
    }
    if (id === undefined) return new Response(null, { status: 202 });
    if (method === "tools/list") {
      return json({
        jsonrpc: "2.0",
        id,
        result: { tools: [{ name: "echo", inputSchema: { type: "object" } }] },
      });
    }
    const token = (params._meta as Record<string, unknown> | undefined)?.progressToken;
    const events = [
      {
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: token, progress: 1 },
      },
      { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "hi" } },
      {
        jsonrpc: "2.0",
        id,
        result: { content: [{ type: "text", text: "x".repeat(options.big ?? 2) }] },
      },
    ];
    return new Response(
      events.map((e) => `event: message\ndata: ${JSON.stringify(e)}\n\n`).join(""),
      {
        headers: { "content-type": "text/event-stream" },
      },
    );
  });
  const url = `http://127.0.0.1:${server.addr.port}/mcp`;
  return { server, url, seen, sessions };
}

function client(
  url: string,
  era: "2025" | "2026-07-28" | "auto",
  options: Partial<McpUpstreamOptions> = {},
  allowNetworks = ["127.0.0.0/8"],
) {
  return new McpUpstream(
    {
      kind: "http",
      url,
      era,
      allowNetworks,
      headers: () => Promise.resolve({ authorization: "Bearer upstream-token" }),
    },
    { name: "web", ...options },
  );
}

const timeout = () => AbortSignal.timeout(10_000);

Deno.test("McpUpstream http: a loopback URL is refused without allowNetworks", async () => {
  const fx = serve();
  const upstream = client(fx.url, "2025", {}, []);
  try {
    await assert.rejects(
      upstream.start(timeout()),
      (e: LoomError) =>
        e.code === "POLICY_DENIED" && /Agent "web"/.test(e.message) && /loopback/.test(e.message),
    );
    assert.equal(fx.seen.length, 0);
  } finally {
    await upstream.close();
    await fx.server.shutdown();
  }
});

Deno.test("McpUpstream http: session era, JSON and SSE answers, session header, DELETE on close", async () => {
  const fx = serve();
  const progress: number[] = [];
  const logs: unknown[] = [];
  const upstream = client(fx.url, "2025", { onLog: (_level, data) => logs.push(data) });
  try {
    assert.deepEqual(await upstream.start(timeout()), {
      protocolVersion: "2025-11-25",
      serverName: "old",
    });
    assert.deepEqual((await upstream.listTools(timeout())).map((t) => t.name), ["echo"]);
    const result = await upstream.callTool("echo", {}, {
      signal: timeout(),
      onProgress: (p) => progress.push(p),
    });
    assert.deepEqual(result, { content: [{ type: "text", text: "xx" }], isError: false });
    assert.deepEqual(progress, [1]);
    assert.deepEqual(logs, ["hi"]);
    const call = fx.seen.find((s) => s.body?.method === "tools/call")!;
    assert.equal(call.headers.get("mcp-session-id"), "session-1");
    assert.equal(call.headers.get("mcp-protocol-version"), "2025-11-25");
    assert.equal(call.headers.get("authorization"), "Bearer upstream-token");
    assert.match(call.headers.get("accept")!, /text\/event-stream/);
    assert.ok(fx.seen.some((s) => s.body?.method === "notifications/initialized"));
  } finally {
    await upstream.close();
    await fx.server.shutdown();
  }
  assert.equal(fx.seen.at(-1)?.method, "DELETE");
  assert.equal(fx.sessions.size, 0);
});

Deno.test("McpUpstream http: an expired session (404) is initialized again once", async () => {
  const fx = serve();
  let changed = 0;
  const upstream = client(fx.url, "2025", { onToolsChanged: () => changed++ });
  try {
    await upstream.start(timeout());
    fx.sessions.clear();
    const tools = await upstream.listTools(timeout());
    assert.equal(tools.length, 1);
    assert.equal(changed, 1);
    const last = fx.seen.filter((s) => s.body?.method === "tools/list").at(-1)!;
    assert.equal(last.headers.get("mcp-session-id"), "session-2");
  } finally {
    await upstream.close();
    await fx.server.shutdown();
  }
});

Deno.test("McpUpstream http: 2026-07-28 era sends _meta and the mirrored headers", async () => {
  const fx = serve({ modern: true });
  const upstream = client(fx.url, "auto");
  try {
    const info = await upstream.start(timeout());
    assert.deepEqual(info, {
      protocolVersion: "2026-07-28",
      serverName: "modern",
      serverVersion: "2",
    });
    await upstream.callTool("echo", { a: 1 }, { signal: timeout() });
    const call = fx.seen.find((s) => s.body?.method === "tools/call")!;
    const meta = (call.body!.params as Record<string, Record<string, unknown>>)._meta;
    assert.equal(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
    assert.deepEqual(meta["io.modelcontextprotocol/clientInfo"], {
      name: "loom-gateway",
      version: "0",
    });
    assert.deepEqual(meta["io.modelcontextprotocol/clientCapabilities"], {});
    assert.equal(call.headers.get("mcp-protocol-version"), "2026-07-28");
    assert.equal(call.headers.get("mcp-method"), "tools/call");
    assert.equal(call.headers.get("mcp-name"), "echo");
    assert.equal(call.headers.get("mcp-session-id"), null);
    assert.ok(!fx.seen.some((s) => s.body?.method === "initialize"));
  } finally {
    await upstream.close();
    await fx.server.shutdown();
  }
});

Deno.test("McpUpstream http: auto falls back to initialize when server/discover is refused", async () => {
  const fx = serve();
  const upstream = client(fx.url, "auto");
  try {
    assert.equal((await upstream.start(timeout())).protocolVersion, "2025-11-25");
  } finally {
    await upstream.close();
    await fx.server.shutdown();
  }
});

Deno.test("McpUpstream http: an answer over the cap is RESPONSE_TOO_LARGE", async () => {
  const fx = serve({ big: 100_000 });
  const upstream = client(fx.url, "2025", { maxMessageBytes: 16 * 1024 });
  try {
    await assert.rejects(
      upstream.callTool("echo", {}, { signal: timeout() }),
      (e: LoomError) => e.code === "RESPONSE_TOO_LARGE",
    );
  } finally {
    await upstream.close();
    await fx.server.shutdown();
  }
});
