/**
 * End-to-end: session quotas and `/healthz` of `loom run --transport http`,
 * over real sockets on loopback. A client that floods sessions or holds
 * notification streams gets 429 with `Retry-After` for itself and cannot end
 * or starve another client's sessions; `/healthz` passes the Host/Origin
 * guard and tells a caller without the token nothing but `ok`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "../../src/mcp/client.ts";
import { INITIALIZE, runLoom, startLoomHttp, tempDir } from "../_helpers.ts";

const TOKEN_A = "e2e-token-a-0123456789";
const TOKEN_B = "e2e-token-b-0123456789";

const AGENT = `agent:
  name: sessions-test
  exposes:
    - name: ping_upstream
      description: Ping
  http_bridge:
    - tool_name: ping_upstream
      url: "http://127.0.0.1:9/ping"
`;

const INIT = JSON.stringify(INITIALIZE);

/** POST an initialize; returns the status, the session id and Retry-After. */
async function initialize(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; id: string | null; retryAfter: string | null }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: INIT,
  });
  await res.body?.cancel();
  return {
    status: res.status,
    id: res.headers.get("mcp-session-id"),
    retryAfter: res.headers.get("retry-after"),
  };
}

/** POST a ping within a session; returns the status. */
async function ping(
  url: string,
  session: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      ...headers,
      "content-type": "application/json",
      accept: "application/json",
      "mcp-session-id": session,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }),
  });
  await res.body?.cancel();
  return res.status;
}

/** Send raw bytes on a new connection and read the whole answer (the request says close). */
async function rawRequest(
  port: number,
  request: string,
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(request);
    for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
    const buf = new Uint8Array(16 * 1024);
    let text = "";
    for (let i = 0; i < 64; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    const [head, ...rest] = text.split("\r\n\r\n");
    return { status: Number(head.split(" ")[1]), body: rest.join("\r\n\r\n") };
  } finally {
    conn.close();
  }
}

function getHealthz(headers: Record<string, string>): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `GET /healthz HTTP/1.1\r\n${lines}connection: close\r\n\r\n`;
}

Deno.test("loom run --transport http: a loopback session flood gets 429 and never ends another client's session", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  // The victim holds no notification stream: the old table evicted exactly such sessions.
  const victim = await initialize(server.url);
  assert.equal(victim.status, 200);
  assert.equal(await ping(server.url, victim.id!), 200);
  // Default limits: the flood meets its quota long before this bound.
  let refused: { status: number; retryAfter: string | null } | null = null;
  for (let i = 0; i < 1100 && !refused; i++) {
    const res = await initialize(server.url);
    if (res.status !== 200) refused = res;
  }
  // The victim's session, idle during the flood, still answers.
  assert.equal(await ping(server.url, victim.id!), 200);
  assert.equal(refused?.status, 429);
  assert.match(refused?.retryAfter ?? "", /^[1-9]\d*$/);
  // A well-behaved SDK client on the same loopback is refused a session, not
  // handed someone else's: loopback clients share one quota (see the docs).
  const client = new Client({ name: "late", version: "1.0.0" });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(server.url))));
  await client.close();
});

Deno.test("loom run with one token per client: streams held under one token leave room for another; sessions stay with their token", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  const tokenFile = join(dir.path, "tokens");
  await Deno.writeTextFile(tokenFile, `${TOKEN_A}\n${TOKEN_B}\n`, { mode: 0o600 });
  await using server = await startLoomHttp(config, {
    home: join(dir.path, "home"),
    extraArgs: ["--token-file", tokenFile, "--max-sessions-per-client", "4"],
  });
  const a = { authorization: `Bearer ${TOKEN_A}` };
  const b = { authorization: `Bearer ${TOKEN_B}` };
  const streams: Response[] = [];
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await initialize(server.url, a);
      statuses.push(res.status);
      if (!res.id) continue;
      const sse = await fetch(server.url, {
        headers: { ...a, accept: "text/event-stream", "mcp-session-id": res.id },
      });
      assert.equal(sse.status, 200);
      streams.push(sse);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429, 429, 429]);

    const mine = await initialize(server.url, b);
    assert.equal(mine.status, 200);
    // B's session is B's: token A cannot use it.
    assert.equal(await ping(server.url, mine.id!, a), 404);
    assert.equal(await ping(server.url, mine.id!, b), 200);
  } finally {
    for (const s of streams) await s.body?.cancel();
  }
});

/** Open a session's notification stream on a raw connection, read its head, and drop it. */
async function dropStream(port: number, session: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = `GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n` +
      `accept: text/event-stream\r\nmcp-session-id: ${session}\r\n\r\n`;
    const bytes = new TextEncoder().encode(request);
    for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("loom run --transport http notices a client that drops its notification stream, and prints no Deno warning", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  const server = await startLoomHttp(config, { home: join(dir.path, "home") });
  try {
    // The SDK client opens the notification stream itself, as clients do.
    const client = new Client({ name: "stderr-check", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name), ["ping_upstream"]);
    } finally {
      await client.close();
    }
    // A client that goes away frees its stream: the session may open a new
    // one (a stream still counted would be 409).
    const port = Number(new URL(server.url).port);
    const { id } = await initialize(server.url);
    assert.equal(await dropStream(port, id!), "HTTP/1.1 200 OK");
    let status = 0;
    for (let i = 0; i < 100; i++) {
      const again = await fetch(server.url, {
        headers: { accept: "text/event-stream", "mcp-session-id": id! },
      });
      await again.body?.cancel();
      status = again.status;
      if (status !== 409) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(status, 200);
  } finally {
    const stopped = await server.stop("SIGTERM");
    assert.equal(stopped.code, 0, server.stderr());
  }
  const stderr = server.stderr();
  assert.match(stderr, /shutting down/);
  // Deno's own warnings; LOOM's notice that the config is unsigned is expected.
  const deno = stderr.split("\n").filter((line) =>
    !/^(loom: )?warning: config ".*" is not signed/.test(line)
  );
  assert.doesNotMatch(deno.join("\n"), /Deno\.serve|request\.signal|legacy|warning/i, stderr);
});

Deno.test("loom run /healthz passes the Host/Origin guard and says only ok without the token", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  await using server = await startLoomHttp(config, {
    home: join(dir.path, "home"),
    env: { LOOM_HTTP_TOKEN: TOKEN_A },
  });
  assert.equal((await initialize(server.url, { authorization: `Bearer ${TOKEN_A}` })).status, 200);
  const port = Number(new URL(server.url).port);
  const host = `127.0.0.1:${port}`;

  const rebinding = await rawRequest(port, getHealthz({ host: "evil.example.com" }));
  assert.equal(rebinding.status, 403);
  const foreign = await rawRequest(port, getHealthz({ host, origin: "http://evil.example.com" }));
  assert.equal(foreign.status, 403);

  const stranger = await rawRequest(port, getHealthz({ host }));
  assert.equal(stranger.status, 200);
  assert.equal(stranger.body, "ok");

  const owner = await fetch(server.url.replace("/mcp", "/healthz"), {
    headers: { authorization: `Bearer ${TOKEN_A}` },
  });
  assert.equal(owner.status, 200);
  assert.equal((await owner.json()).sessions, 1);
});

Deno.test("loom run refuses a non-positive session limit and an empty token file with exit 64", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  const home = join(dir.path, "home");
  const http = ["run", config, "--transport", "http", "--port", "0"];
  for (const flag of ["--max-sessions", "--max-sessions-per-client", "--session-idle"]) {
    const res = await runLoom([...http, flag, "0"], { home });
    assert.equal(res.code, 64, flag);
    assert.match(res.stderr, /expected a positive integer/);
  }
  const empty = join(dir.path, "empty");
  await Deno.writeTextFile(empty, "\n\n", { mode: 0o600 });
  const res = await runLoom([...http, "--token-file", empty], { home });
  assert.equal(res.code, 64);
  assert.match(res.stderr, /Token file holds no token/);
});
