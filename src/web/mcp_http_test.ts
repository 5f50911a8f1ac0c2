import assert from "node:assert/strict";
import { parseConfig } from "../config/mod.ts";
import { AuditLog } from "../security/audit/mod.ts";
import { AgentGate } from "../runtime/mod.ts";
import { McpEngine } from "../mcp/mod.ts";
import { createMcpApp, type McpHttpApp, type McpHttpOptions } from "./mcp_http.ts";
import { originPolicy } from "./guard.ts";
import { INITIALIZE as INIT } from "../../tests/_helpers.ts";

/**
 * What `Deno.serve` passes the app as its environment. In-process requests
 * have no socket, so a test names the peer itself: loopback, or an address of
 * the documentation range (RFC 5737) used only as a label, never dialled;
 * and, where a test plays the server's part, the `completed` promise.
 */
type Peer = { remoteAddr: Deno.NetAddr; completed?: Promise<void> };

function peer(hostname: string): Peer {
  return { remoteAddr: { transport: "tcp", hostname, port: 40000 } };
}

const LOOPBACK = peer("127.0.0.1");
const PING = { jsonrpc: "2.0", id: 7, method: "ping" };

/** The response's status, its body discarded. */
async function status(res: Response): Promise<number> {
  await res.body?.cancel();
  return res.status;
}
const TOKEN_A = "token-a-token-a-token-a";
const TOKEN_B = "token-b-token-b-token-b";

interface Fixture extends AsyncDisposable {
  http: McpHttpApp;
  post(body: unknown, headers?: Record<string, string>, from?: Peer): Promise<Response>;
  init(headers?: Record<string, string>, from?: Peer): Promise<string>;
  get(path: string, headers?: Record<string, string>, from?: Peer): Promise<Response>;
}

/**
 * The app's own options, except that the Host/Origin policy is built from
 * `allowedOrigins` and one `token` may stand for `tokens`.
 */
type FixtureOptions = Omit<McpHttpOptions, "policy" | "tokens"> & {
  token?: string;
  tokens?: string[];
  allowedOrigins?: string[];
};

async function fixture(options: FixtureOptions = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "loom-http-" });
  const config = parseConfig(
    `agent:
  name: http-test
  exposes:
    - name: ping_upstream
      description: Ping
  http_bridge:
    - tool_name: ping_upstream
      url: "http://127.0.0.1:9/ping"
`,
    { path: "t.yaml" },
  );
  const audit = await AuditLog.open(`${dir}/audit`);
  const engine = new McpEngine(new AgentGate(config, { audit }), { name: "t", version: "1" });
  const { token, tokens, allowedOrigins, ...limits } = options;
  const http = createMcpApp(engine, {
    ...limits,
    policy: originPolicy("127.0.0.1", { allowedOrigins }),
    tokens: tokens ?? (token ? [token] : undefined),
  });
  const base = { host: "127.0.0.1:8400", accept: "application/json, text/event-stream" };
  const post = async (body: unknown, headers: Record<string, string> = {}, from = LOOPBACK) =>
    await http.app.request("http://127.0.0.1:8400/mcp", {
      method: "POST",
      headers: { ...base, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }, from);
  return {
    http,
    post,
    async init(headers = {}, from = LOOPBACK) {
      const res = await post(INIT, headers, from);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      return res.headers.get("mcp-session-id")!;
    },
    async get(path, headers = {}, from = LOOPBACK) {
      return await http.app.request(`http://127.0.0.1:8400${path}`, {
        headers: { host: "127.0.0.1:8400", ...headers },
      }, from);
    },
    [Symbol.asyncDispose]: async () => {
      http.close();
      await audit.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("POST /mcp with a foreign Origin is 403 with a JSON-RPC error and no id", async () => {
  await using f = await fixture();
  const res = await f.post(INIT, { origin: "http://evil.example.com" });
  assert.equal(res.status, 403);
  const body = await res.json();
  assert.equal(body.id, null);
  assert.equal(body.error.code, -32600);
});

Deno.test("POST /mcp refuses a rebinding Host and accepts loopback names on any port", async () => {
  await using f = await fixture();
  const evil = { host: "evil.example.com", origin: "http://evil.example.com" };
  assert.equal(await status(await f.post(INIT, evil)), 403);
  for (const h of ["localhost:1234", "127.0.0.1:8400", "[::1]:9"]) {
    assert.equal(await status(await f.post(INIT, { host: h, origin: `http://${h}` })), 200, h);
  }
});

Deno.test("POST /mcp without Origin but with the bearer token is accepted; without it 401", async () => {
  await using f = await fixture({ token: "t0k3n-t0k3n-t0k3n-t0k3n" });
  const none = await f.post(INIT);
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  await none.body?.cancel();
  assert.equal(await status(await f.post(INIT, { authorization: "Bearer nope" })), 401);
  const token = { authorization: "Bearer t0k3n-t0k3n-t0k3n-t0k3n" };
  assert.equal(await status(await f.post(INIT, token)), 200);
});

Deno.test("originPolicy() with an allowlist accepts it and still refuses others", async () => {
  await using f = await fixture({ allowedOrigins: ["https://app.example.com"] });
  assert.equal(await status(await f.post(INIT, { origin: "https://app.example.com" })), 200);
  assert.equal(
    await status(await f.post(INIT, { origin: "https://app.example.com.evil.net" })),
    403,
  );
});

Deno.test("POST /mcp with an unsupported MCP-Protocol-Version is 400; absent is fine", async () => {
  await using f = await fixture();
  const sid = await f.init();
  const oldVersion = { "mcp-session-id": sid, "mcp-protocol-version": "1999-01-01" };
  assert.equal(await status(await f.post(PING, oldVersion)), 400);
  const ok = await f.post({ jsonrpc: "2.0", id: 3, method: "ping" }, { "mcp-session-id": sid });
  assert.equal(ok.status, 200);
  assert.deepEqual((await ok.json()).result, {});
});

Deno.test("session ids are unique, visible ASCII and 256-bit", async () => {
  await using f = await fixture();
  const ids = new Set<string>();
  for (let i = 0; i < 200; i++) ids.add(await f.init());
  assert.equal(ids.size, 200);
  for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/);
});

Deno.test("requests without a session are 400, unknown sessions 404, DELETE ends one", async () => {
  await using f = await fixture();
  const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
  assert.equal(await status(await f.post(list)), 400);
  assert.equal(await status(await f.post(list, { "mcp-session-id": "f".repeat(64) })), 404);
  const sid = await f.init();
  const del = await f.http.app.request("http://127.0.0.1:8400/mcp", {
    method: "DELETE",
    headers: { host: "127.0.0.1:8400", "mcp-session-id": sid },
  });
  assert.equal(del.status, 200);
  assert.equal(await status(await f.post(PING, { "mcp-session-id": sid })), 404);
});

Deno.test("a notification is 202 with no body; bad JSON, batches and null ids are refused", async () => {
  await using f = await fixture();
  const sid = await f.init();
  const s = { "mcp-session-id": sid };
  const note = await f.post({ jsonrpc: "2.0", method: "notifications/initialized" }, s);
  assert.equal(note.status, 202);
  assert.equal(await note.text(), "");
  const parse = await f.post("{not json", s);
  assert.equal(parse.status, 400);
  const pe = await parse.json();
  assert.equal(pe.error.code, -32700);
  assert.equal(pe.id, null);
  const batch = await f.post([{ jsonrpc: "2.0", id: 1, method: "ping" }], s);
  assert.equal(batch.status, 400);
  assert.equal((await batch.json()).error.code, -32600);
  const nullId = await f.post({ jsonrpc: "2.0", id: null, method: "ping" }, s);
  assert.equal((await nullId.json()).error.code, -32600);
  const unknown = await f.post({ jsonrpc: "2.0", id: 9, method: "nope/nope" }, s);
  assert.equal((await unknown.json()).error.code, -32601);
});

Deno.test("POST /mcp with Content-Type text/plain is 415 and creates no session", async () => {
  await using f = await fixture();
  assert.equal(await status(await f.post(INIT, { "content-type": "text/plain" })), 415);
  assert.equal(f.http.sessionCount(), 0);
});

Deno.test("POST /mcp with a body one byte over the limit is 413", async () => {
  await using f = await fixture({ maxBodyBytes: 1024 });
  const body = JSON.stringify({ ...INIT, pad: "x".repeat(2000) });
  assert.equal(await status(await f.post(body)), 413);
  // Streamed without Content-Length: counted as it arrives.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(body));
      c.close();
    },
  });
  const res2 = await f.http.app.request("http://127.0.0.1:8400/mcp", {
    method: "POST",
    headers: { host: "127.0.0.1:8400", "content-type": "application/json" },
    body: stream,
  });
  assert.equal(res2.status, 413);
  await res2.body?.cancel();
});

Deno.test("GET /mcp opens one notification stream per session; a second is 409", async () => {
  await using f = await fixture();
  const sid = await f.init();
  const headers = { host: "127.0.0.1:8400", accept: "text/event-stream", "mcp-session-id": sid };
  const first = await f.http.app.request("http://127.0.0.1:8400/mcp", { headers });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "text/event-stream");
  const second = await f.http.app.request("http://127.0.0.1:8400/mcp", { headers });
  assert.equal(second.status, 409);
  await second.body?.cancel();
  await first.body?.cancel();
});

for (const how of ["delivered", "interrupted"] as const) {
  Deno.test(`GET /mcp frees the notification stream when the server says its response ended (${how})`, async () => {
    await using f = await fixture();
    const sid = await f.init();
    let settle = () => {};
    // Deno.serve settles `completed` when the response ends; it rejects when the client left.
    const completed = new Promise<void>((resolve, reject) => {
      settle = how === "delivered" ? resolve : () => reject(new Deno.errors.Interrupted());
    });
    completed.catch(() => {});
    const headers = { accept: "text/event-stream", "mcp-session-id": sid };
    const sse = await f.get("/mcp", headers, { ...LOOPBACK, completed });
    try {
      assert.equal(sse.status, 200);
      assert.equal(f.http.streamCount(), 1);
      settle();
      await completed.catch(() => {});
      assert.equal(f.http.streamCount(), 0);
      // The session may open a new stream: the old one no longer counts.
      assert.equal(await status(await f.get("/mcp", headers)), 200);
    } finally {
      await sse.body?.cancel();
    }
  });
}

Deno.test("tools/list after initialize lists the agent tools with a strict inputSchema", async () => {
  await using f = await fixture();
  const sid = await f.init();
  const res = await f.post({ jsonrpc: "2.0", id: 5, method: "tools/list" }, {
    "mcp-session-id": sid,
  });
  const body = await res.json();
  assert.deepEqual(body.result.tools.map((t: { name: string }) => t.name), ["ping_upstream"]);
  assert.equal(body.result.tools[0].inputSchema.additionalProperties, false);
});

for (const declared of [false, true]) {
  const what = declared ? "with a declared length" : "chunked";
  Deno.test(`POST /mcp whose body (${what}) trickles past the deadline is 408`, async () => {
    await using f = await fixture({ bodyTimeoutMs: 200 });
    let timer: ReturnType<typeof setInterval> | undefined;
    const drip = new ReadableStream<Uint8Array>({
      start(c) {
        timer = setInterval(() => c.enqueue(new TextEncoder().encode(" ")), 50);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    const headers: Record<string, string> = {
      host: "127.0.0.1:8400",
      "content-type": "application/json",
    };
    if (declared) headers["content-length"] = "1000";
    try {
      const res = await f.http.app.request("http://127.0.0.1:8400/mcp", {
        method: "POST",
        headers,
        body: drip,
      });
      assert.equal(res.status, 408);
      await res.body?.cancel();
    } finally {
      clearInterval(timer);
    }
  });
}

Deno.test("POST /mcp with a declared length within the cap is read whole", async () => {
  await using f = await fixture({});
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
  const res = await f.http.app.request("http://127.0.0.1:8400/mcp", {
    method: "POST",
    headers: {
      host: "127.0.0.1:8400",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "content-length": String(body.length),
    },
    body,
  });
  // A ping outside a session and without 2026-07-28 _meta: parsed whole,
  // then refused as a request of neither era.
  const answer = await res.json();
  assert.equal(res.status, 400);
  assert.equal(answer.id, 1);
  assert.match(answer.error.message, /_meta/);
});

// Session quotas: a client may exhaust only its own share, never end or
// starve another client's sessions.

const CLIENT_X = peer("192.0.2.10");
const CLIENT_Y = peer("192.0.2.20");

Deno.test("createMcpApp() never ends another client's active session to admit new ones", async () => {
  await using f = await fixture({ maxSessions: 4 });
  const mine = await f.init({}, CLIENT_X);
  const flood: number[] = [];
  for (let i = 0; i < 12; i++) flood.push(await status(await f.post(INIT, {}, CLIENT_Y)));
  assert.equal(await status(await f.post(PING, { "mcp-session-id": mine }, CLIENT_X)), 200);
  assert.deepEqual(flood, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429, 429, 429]);
});

Deno.test("createMcpApp() lets a client fill only its own quota: another client still initializes", async () => {
  await using f = await fixture({ maxSessions: 8, maxSessionsPerClient: 3 });
  const streams: Response[] = [];
  try {
    const flood: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await f.post(INIT, {}, CLIENT_Y);
      flood.push(res.status);
      const sid = res.headers.get("mcp-session-id");
      await res.body?.cancel();
      if (!sid) continue;
      // Each flood session also holds its notification stream open.
      const sse = await f.get(
        "/mcp",
        { accept: "text/event-stream", "mcp-session-id": sid },
        CLIENT_Y,
      );
      assert.equal(sse.status, 200);
      streams.push(sse);
    }
    assert.deepEqual(flood, [200, 200, 200, 429, 429, 429, 429, 429]);
    assert.equal(await status(await f.post(INIT, {}, CLIENT_X)), 200);
    // Loopback is one more client with its own quota.
    assert.equal(await status(await f.post(INIT, {}, LOOPBACK)), 200);
  } finally {
    for (const s of streams) await s.body?.cancel();
  }
});

Deno.test("createMcpApp() over the session quota is 429 with Retry-After and a JSON-RPC error without id", async () => {
  await using f = await fixture({ maxSessionsPerClient: 2 });
  await f.init();
  await f.init();
  const res = await f.post(INIT);
  assert.equal(res.status, 429);
  assert.match(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
  assert.equal(res.headers.get("mcp-session-id"), null);
  const body = await res.json();
  assert.equal(body.jsonrpc, "2.0");
  assert.equal(body.id, null);
  assert.equal(typeof body.error.code, "number");
  assert.match(body.error.message, /Too many sessions/);
  assert.equal(f.http.sessionCount(), 2);
});

Deno.test("createMcpApp() over the notification stream quota is 429 with Retry-After", async () => {
  await using f = await fixture({ maxStreamsPerClient: 1 });
  const a = await f.init();
  const b = await f.init();
  const first = await f.get("/mcp", { accept: "text/event-stream", "mcp-session-id": a });
  try {
    assert.equal(first.status, 200);
    const second = await f.get("/mcp", { accept: "text/event-stream", "mcp-session-id": b });
    assert.equal(second.status, 429);
    assert.match(second.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    assert.equal((await second.json()).id, null);
  } finally {
    await first.body?.cancel();
  }
  // A closed stream gives its slot back.
  assert.equal(
    await status(await f.get("/mcp", { accept: "text/event-stream", "mcp-session-id": b })),
    200,
  );
});

Deno.test("createMcpApp() ends a session idle past sessionIdleMs: its id answers 404 and its slot is free", async () => {
  await using f = await fixture({ sessionIdleMs: 50, maxSessionsPerClient: 1 });
  const sid = await f.init();
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(await status(await f.post(PING, { "mcp-session-id": sid })), 404);
  await f.init();
});

Deno.test("createMcpApp() does not expire a session while its notification stream is open", async () => {
  await using f = await fixture({ sessionIdleMs: 50 });
  const sid = await f.init();
  const sse = await f.get("/mcp", { accept: "text/event-stream", "mcp-session-id": sid });
  try {
    assert.equal(sse.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(await status(await f.post(PING, { "mcp-session-id": sid })), 200);
  } finally {
    await sse.body?.cancel();
  }
});

Deno.test("createMcpApp() binds a session to the token that created it: another token gets 404", async () => {
  await using f = await fixture({ tokens: [TOKEN_A, TOKEN_B] });
  const sid = await f.init({ authorization: `Bearer ${TOKEN_A}` });
  assert.equal(
    await status(await f.post(PING, { authorization: `Bearer ${TOKEN_B}`, "mcp-session-id": sid })),
    404,
  );
  assert.equal(await status(await f.post(PING, { "mcp-session-id": sid })), 401);
  assert.equal(
    await status(await f.post(PING, { authorization: `Bearer ${TOKEN_A}`, "mcp-session-id": sid })),
    200,
  );
});

Deno.test("createMcpApp() counts quotas per token: one token's flood leaves another token's client room", async () => {
  await using f = await fixture({ tokens: [TOKEN_A, TOKEN_B], maxSessionsPerClient: 2 });
  const a = { authorization: `Bearer ${TOKEN_A}` };
  const b = { authorization: `Bearer ${TOKEN_B}` };
  const flood: number[] = [];
  for (let i = 0; i < 4; i++) flood.push(await status(await f.post(INIT, a)));
  assert.deepEqual(flood, [200, 200, 429, 429]);
  assert.equal(await status(await f.post(INIT, b)), 200);
});

// /healthz: the same guards as /mcp, and nothing but "ok" for a stranger.

Deno.test("GET /healthz refuses a rebinding Host or a foreign Origin with 403", async () => {
  await using f = await fixture();
  assert.equal(await status(await f.get("/healthz", { host: "evil.example.com" })), 403);
  assert.equal(await status(await f.get("/healthz", { origin: "http://evil.example.com" })), 403);
  assert.equal(await status(await f.get("/healthz")), 200);
});

Deno.test("GET /healthz with a token configured answers exactly ok without it, details with it", async () => {
  await using f = await fixture({ token: TOKEN_A, healthDetails: true });
  await f.init({ authorization: `Bearer ${TOKEN_A}` });
  const strangers: Record<string, string>[] = [{}, { authorization: "Bearer wrong-wrong-wrong" }];
  for (const headers of strangers) {
    const res = await f.get("/healthz", headers);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
  }
  const res = await f.get("/healthz", { authorization: `Bearer ${TOKEN_A}` });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok", sessions: 1, streams: 0 });
});

Deno.test("GET /healthz without healthDetails answers exactly ok", async () => {
  await using f = await fixture();
  await f.init();
  const res = await f.get("/healthz");
  assert.equal(await res.text(), "ok");
});
