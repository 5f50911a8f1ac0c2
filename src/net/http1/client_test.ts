import assert from "node:assert/strict";
import { brotliCompressSync, gzipSync } from "node:zlib";
import {
  BodyLimitError,
  type ClientRequest,
  ConnectionClosedError,
  HttpClient,
  ProtocolError,
} from "./client.ts";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const TLS_DIR = new URL("../../../tests/fixtures/tls/", import.meta.url);

/**
 * A raw HTTP/1.1 upstream on 127.0.0.1: for each request head it receives
 * (bodies are read by their Content-Length), `answer` gives the bytes to send
 * back and whether to close the connection afterwards.
 */
interface RawUpstream extends AsyncDisposable {
  origin: string;
  /** Connections accepted so far. */
  connections: number;
  /** Request heads received, in order, with the number of their connection. */
  requests: { head: string; body: string; connection: number }[];
  /**
   * Write bytes on connection `number` (1-based) outside any exchange: a late
   * or unsolicited answer onto a connection the client holds idle.
   */
  push(number: number, bytes: string): Promise<void>;
}

/** `trickle`: written one byte per write, to split every token across reads. */
type Answer = { bytes: string | Uint8Array; close?: boolean; trickle?: boolean } | "hang";

/** `client`, closed when the scope that declares it with `using` ends. */
function closing(client: HttpClient): HttpClient & Disposable {
  return Object.assign(client, { [Symbol.dispose]: () => client.close() });
}

function rawUpstream(answer: (index: number, head: string) => Answer): RawUpstream {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const byNumber = new Map<number, Deno.Conn>();
  const state: RawUpstream = {
    origin: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    connections: 0,
    requests: [],
    async push(number, bytes) {
      const conn = byNumber.get(number);
      if (conn === undefined) throw new Error(`No open connection ${number}`);
      const all = ENCODER.encode(bytes);
      for (let done = 0; done < all.length;) done += await conn.write(all.subarray(done));
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
      await accepting;
    },
  };
  const serve = async (conn: Deno.Conn, number: number) => {
    let pending = new Uint8Array(0);
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        let text = DECODER.decode(pending);
        let end = text.indexOf("\r\n\r\n");
        while (end < 0) {
          const n = await conn.read(buf);
          if (n === null) return;
          pending = new Uint8Array([...pending, ...buf.subarray(0, n)]);
          text = DECODER.decode(pending);
          end = text.indexOf("\r\n\r\n");
        }
        const head = text.slice(0, end);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        while (pending.length < end + 4 + length) {
          const n = await conn.read(buf);
          if (n === null) return;
          pending = new Uint8Array([...pending, ...buf.subarray(0, n)]);
        }
        const body = DECODER.decode(pending.subarray(end + 4, end + 4 + length));
        pending = pending.slice(end + 4 + length);
        const index = state.requests.length;
        state.requests.push({ head, body, connection: number });
        const reply = answer(index, head);
        if (reply === "hang") continue;
        const bytes = typeof reply.bytes === "string" ? ENCODER.encode(reply.bytes) : reply.bytes;
        let done = 0;
        while (done < bytes.length) {
          const end = reply.trickle ? done + 1 : bytes.length;
          done += await conn.write(bytes.subarray(done, end));
        }
        if (reply.close) return;
      }
    } catch {
      // The client went away.
    } finally {
      conns.delete(conn);
      byNumber.delete(number);
      try {
        conn.close();
      } catch { /* closed by dispose */ }
    }
  };
  const accepting = (async () => {
    const served: Promise<void>[] = [];
    try {
      for await (const conn of listener) {
        conns.add(conn);
        byNumber.set(++state.connections, conn);
        served.push(serve(conn, state.connections));
      }
    } catch {
      // Listener closed.
    }
    await Promise.all(served);
  })();
  return state;
}

function ok(body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${ENCODER.encode(body).length}\r\n${extra}\r\n${body}`;
}

function request(url: string, init: Partial<ClientRequest> = {}): ClientRequest {
  return {
    method: "GET",
    url: new URL(url),
    headers: new Headers({ accept: "application/json" }),
    body: null,
    signal: new AbortController().signal,
    ...init,
  };
}

async function text(client: HttpClient, req: ClientRequest, max = 1 << 20): Promise<string> {
  const res = await client.request(req);
  return DECODER.decode(await res.read(max));
}

function bytesOf(head: string, body: Uint8Array): Uint8Array {
  const h = ENCODER.encode(head);
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}

// --- Refusals first ---------------------------------------------------------

Deno.test("HttpClient refuses responses that break HTTP/1.1 framing", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["a malformed status line", "HTTP/1.1 2OO OK\r\n\r\n", /malformed status line/],
    ["HTTP/2 framing", "HTTP/2 200\r\n\r\n", /malformed status line/],
    ["an obsolete folded header", "HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\n\r\n", /folded/],
    [
      "a space before the colon",
      "HTTP/1.1 200 OK\r\nx-a : 1\r\ncontent-length: 0\r\n\r\n",
      /malformed header/,
    ],
    [
      "a control character in a value",
      "HTTP/1.1 200 OK\r\nx-a: a\u0001b\r\n\r\n",
      /malformed header/,
    ],
    [
      "conflicting Content-Length values",
      "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
      /invalid Content-Length/,
    ],
    [
      "a repeated Content-Length, even with equal values",
      "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello",
      /invalid Content-Length/,
    ],
    [
      "a Content-Length list",
      "HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\nhello",
      /invalid Content-Length/,
    ],
    [
      "both Content-Length and chunked",
      "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      /both Content-Length and Transfer-Encoding/,
    ],
    [
      "a negative Content-Length",
      "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
      /invalid Content-Length/,
    ],
    [
      "a transfer coding other than chunked",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      /transfer coding/,
    ],
    [
      "a switch of protocols",
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n",
      /switched protocols/,
    ],
    [
      // HTTP/1.0 defines no 1xx status; llhttp reads one as the end of the connection.
      "an HTTP/1.0 informational response",
      "HTTP/1.0 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nx-a:text/plain \r\n\r\n\u0000",
      /HTTP\/1\.0 informational response/,
    ],
    [
      "too many header fields",
      `HTTP/1.1 200 OK\r\n${"x-a: 1\r\n".repeat(200)}content-length: 0\r\n\r\n`,
      /more than 128 header fields/,
    ],
    [
      "a header section over 64 KiB",
      `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(70 * 1024)}\r\n\r\n`,
      /header section is too long/,
    ],
  ];
  for (const [what, response, message] of cases) {
    await t.step(what, async () => {
      await using up = rawUpstream(() => ({ bytes: response, close: true }));
      using client = closing(new HttpClient());
      await assert.rejects(text(client, request(`${up.origin}/x`)), (e: unknown) => {
        assert.ok(e instanceof ProtocolError, `got ${e}`);
        assert.match(e.message, message);
        return true;
      });
      assert.equal(client.openConnections, 0);
    });
  }
});

Deno.test("HttpClient refuses malformed chunks and an unknown content coding", async (t) => {
  const chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
  const cases: [string, string, RegExp][] = [
    ["a chunk size that is not hex", `${chunked}zz\r\nhello\r\n0\r\n\r\n`, /malformed chunk size/],
    ["a chunk without its CRLF", `${chunked}5\r\nhelloXX0\r\n\r\n`, /malformed chunk/],
    ["a chunk size too large", `${chunked}1000000000000\r\n`, /chunk size too large/],
    [
      "a content coding it cannot decode",
      ok("abc", "content-encoding: zstd\r\n"),
      /unsupported content coding/,
    ],
    [
      "a gzip body that does not decompress",
      ok("not gzip", "content-encoding: gzip\r\n"),
      /does not decompress/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    await t.step(what, async () => {
      await using up = rawUpstream(() => ({ bytes, close: true }));
      using client = closing(new HttpClient());
      await assert.rejects(text(client, request(`${up.origin}/x`)), message);
    });
  }
});

Deno.test("HttpClient holds encoded and decoded bytes to the cap", async (t) => {
  const bomb = new Uint8Array(gzipSync(new Uint8Array(50 * 1024 * 1024)));
  const brBomb = new Uint8Array(brotliCompressSync(new Uint8Array(50 * 1024 * 1024)));
  const cases: [string, Uint8Array | string][] = [
    [
      "a gzip bomb",
      bytesOf(
        `HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: ${bomb.length}\r\n\r\n`,
        bomb,
      ),
    ],
    [
      "a brotli bomb",
      bytesOf(
        `HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: ${brBomb.length}\r\n\r\n`,
        brBomb,
      ),
    ],
    ["a declared length over the cap", ok("x".repeat(5000))],
    [
      "chunks over the cap",
      `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${
        "800\r\n" + "y".repeat(2048) + "\r\n"
      }`.repeat(1) + `${"800\r\n" + "y".repeat(2048) + "\r\n"}`.repeat(3),
    ],
    ["a body read to the end of the connection", `HTTP/1.1 200 OK\r\n\r\n${"z".repeat(8000)}`],
  ];
  for (const [what, bytes] of cases) {
    await t.step(what, async () => {
      await using up = rawUpstream(() => ({ bytes, close: true }));
      using client = closing(new HttpClient());
      await assert.rejects(text(client, request(`${up.origin}/x`), 4096), BodyLimitError);
    });
  }
});

Deno.test("HttpClient does not reuse a connection that carried extra bytes", async (t) => {
  const answers: [string, string][] = [
    ["bytes after the response", ok("abc") + "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil"],
  ];
  for (const [what, bytes] of answers) {
    await t.step(what, async () => {
      await using up = rawUpstream(() => ({ bytes }));
      using client = closing(new HttpClient());
      assert.equal(await text(client, request(`${up.origin}/a`)), "abc");
      assert.equal(await text(client, request(`${up.origin}/b`)), "abc");
      assert.equal(up.connections, 2);
    });
  }
});

/**
 * Wait until the client has closed every connection: the bytes just pushed
 * onto an idle one reached it and it dropped that connection. A state, not a
 * fixed sleep that a loaded machine can outlast; bounded, and the test
 * fails if the state never comes.
 */
async function untilDropped(client: HttpClient): Promise<void> {
  for (let i = 0; i < 500 && client.openConnections > 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(client.openConnections, 0, "the client kept a connection that received stray bytes");
}

Deno.test("HttpClient never hands the body of a HEAD answer to the next request on the pool", async () => {
  // Some servers answer HEAD with the body they would send for GET; here that
  // body is itself a whole response, written after the head.
  await using up = rawUpstream((i, head) =>
    head.startsWith("HEAD")
      ? { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n" }
      : { bytes: ok(`r${i}`) }
  );
  using client = closing(new HttpClient());
  const head = await client.request(request(`${up.origin}/x`, { method: "HEAD" }));
  assert.equal((await head.read(100)).length, 0);
  await up.push(1, ok("stray")).catch(() => {});
  await untilDropped(client);
  assert.equal(await text(client, request(`${up.origin}/y`)), "r1");
  assert.equal(await text(client, request(`${up.origin}/z`)), "r2");
});

Deno.test("HttpClient drops an idle connection on which bytes arrived, instead of reusing it", async () => {
  await using up = rawUpstream((i) => ({ bytes: ok(`r${i}`) }));
  using client = closing(new HttpClient());
  assert.equal(await text(client, request(`${up.origin}/a`)), "r0");
  assert.equal(client.openConnections, 1);
  // An unsolicited (or late) response onto the idle kept-alive connection.
  await up.push(1, ok("late"));
  await untilDropped(client);
  assert.equal(await text(client, request(`${up.origin}/b`)), "r1");
  assert.equal(await text(client, request(`${up.origin}/c`)), "r2");
  assert.deepEqual(up.requests.map((r) => r.connection), [1, 2, 2]);
});

Deno.test("HttpClient closes the connection after a HEAD, 204 or 304 answer that carries framing", async (t) => {
  const cases: [string, "GET" | "HEAD", string][] = [
    ["204 with Content-Length", "GET", "HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n"],
    ["204 with chunked", "GET", "HTTP/1.1 204 No Content\r\ntransfer-encoding: chunked\r\n\r\n"],
    ["304 with Content-Length", "GET", "HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n"],
    ["304 with chunked", "GET", "HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n"],
    ["HEAD with Content-Length", "HEAD", "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n"],
    ["HEAD with chunked", "HEAD", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"],
  ];
  for (const [what, method, first] of cases) {
    await t.step(what, async () => {
      await using up = rawUpstream((i) => ({ bytes: i === 0 ? first : ok(`r${i}`) }));
      using client = closing(new HttpClient());
      const res = await client.request(request(`${up.origin}/x`, { method }));
      assert.equal((await res.read(100)).length, 0);
      assert.equal(client.openConnections, 0);
      assert.equal(await text(client, request(`${up.origin}/y`)), "r1");
      assert.equal(up.connections, 2);
    });
  }
  await t.step("204 without framing keeps the connection", async () => {
    await using up = rawUpstream((i) => ({
      bytes: i === 0 ? "HTTP/1.1 204 No Content\r\n\r\n" : ok(`r${i}`),
    }));
    using client = closing(new HttpClient());
    assert.equal((await (await client.request(request(`${up.origin}/x`))).read(10)).length, 0);
    assert.equal(await text(client, request(`${up.origin}/y`)), "r1");
    assert.equal(up.connections, 1);
  });
});

Deno.test("HttpClient never gives one request's echoed secret to a later request on the pool", async () => {
  // The upstream echoes each request back, and once answers twice: the
  // second answer (with the first caller's key) arrives while the connection
  // sits idle in the pool.
  const secret = "sk-test-not-a-real-key-0001";
  await using up = rawUpstream((i, head) => ({ bytes: ok(`r${i}:${head.length}`) }));
  using client = closing(new HttpClient());
  const headers = new Headers({ "x-api-key": secret });
  const first = await text(client, request(`${up.origin}/tool-a`, { headers }));
  assert.ok(first.startsWith("r0:"));
  await up.push(1, ok(`echo: ${up.requests[0].head}`));
  await untilDropped(client);
  const second = await text(client, request(`${up.origin}/tool-b`));
  assert.ok(!second.includes(secret), "the second call received the first call's secret");
  assert.ok(second.startsWith("r1:"), "the second call did not get its own answer");
});

Deno.test("HttpClient parses chunk lines and trailers strictly", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["a bare LF after the chunk size", "5\nhello\r\n0\r\n\r\n", /malformed chunk/],
    ["whitespace after the size without an extension", "5 \r\nhello\r\n0\r\n\r\n", /chunk size/],
    ["a leading space before the size", " 5\r\nhello\r\n0\r\n\r\n", /chunk size/],
    ["a sign before the size", "+5\r\nhello\r\n0\r\n\r\n", /chunk size/],
    ["a 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", /chunk size/],
    ["an empty extension name", "5;\r\nhello\r\n0\r\n\r\n", /chunk extension/],
    ["whitespace before an extension", "5 ;a\r\nhello\r\n0\r\n\r\n", /chunk size/],
    ["whitespace after a semicolon", "5; a\r\nhello\r\n0\r\n\r\n", /chunk extension/],
    ["whitespace around an equals sign", "5;a = 1\r\nhello\r\n0\r\n\r\n", /chunk extension/],
    ["an empty extension value", "5;a=\r\nhello\r\n0\r\n\r\n", /chunk extension/],
    ["an extension name that is not a token", "5;a@b\r\nhello\r\n0\r\n\r\n", /chunk extension/],
    ["an extension value with a space", "5;a=b c\r\nhello\r\n0\r\n\r\n", /chunk extension/],
    ["an unterminated quoted extension", '5;a="b\r\nhello\r\n0\r\n\r\n', /chunk extension/],
    [
      "a control character in a quoted extension",
      '5;a="\u0001"\r\nhello\r\n0\r\n\r\n',
      /chunk extension/,
    ],
    ["an extension without its semicolon", "5 a=b\r\nhello\r\n0\r\n\r\n", /chunk size/],
    ["a bare CR after chunk data", "5\r\nhello\r0\r\n\r\n", /malformed chunk/],
    ["a bare LF after chunk data", "5\r\nhello\n0\r\n\r\n", /malformed chunk/],
    ["a trailer line that is not a field", "0\r\nnot a field\r\n\r\n", /malformed trailer/],
    ["a trailer ending in a bare LF", "0\r\nx-a: 1\n\r\n", /malformed trailer/],
    ["a folded trailer field", "0\r\nx-a: 1\r\n  more\r\n\r\n", /folded/],
    ["a control character in a trailer", "0\r\nx-a: \u0001\r\n\r\n", /malformed trailer/],
    ["too many trailer fields", `0\r\n${"x-t: 1\r\n".repeat(130)}\r\n`, /more than 128/],
    ["a size with 13 significant digits", "1000000000000\r\n", /chunk size too large/],
  ];
  for (const [what, body, message] of cases) {
    await t.step(what, async () => {
      await using up = rawUpstream(() => ({
        bytes: `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${body}`,
        close: true,
      }));
      using client = closing(new HttpClient());
      await assert.rejects(text(client, request(`${up.origin}/x`)), (e: unknown) => {
        assert.ok(e instanceof ProtocolError, `got ${e}`);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

Deno.test("HttpClient counts every wire byte of a chunked body against the cap", async (t) => {
  const cases: [string, string][] = [
    ["a long chunk extension", `1;x=${"a".repeat(3000)}\r\nz\r\n0\r\n\r\n`],
    ["many empty extensions", `1${";x".repeat(1500)}\r\nz\r\n0\r\n\r\n`],
    ["long trailer fields", `1\r\nz\r\n0\r\n${"x-t: 1234567890\r\n".repeat(100)}\r\n`],
    ["size lines and CRLFs", "1\r\nz\r\n".repeat(200) + "0\r\n\r\n"],
  ];
  for (const [what, body] of cases) {
    await t.step(what, async () => {
      await using up = rawUpstream(() => ({
        bytes: `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${body}`,
        close: true,
      }));
      using client = closing(new HttpClient());
      await assert.rejects(text(client, request(`${up.origin}/x`), 1000), BodyLimitError);
    });
  }
});

// --- Exchanges --------------------------------------------------------------

Deno.test("HttpClient sends one well-formed request with its managed headers", async () => {
  await using up = rawUpstream(() => ({ bytes: ok("{}") }));
  using client = closing(new HttpClient());
  const headers = new Headers({ accept: "application/json", "x-token": "abc", host: "evil" });
  headers.set("content-length", "999");
  await text(
    client,
    request(`${up.origin}/v1/items?q=a%20b`, {
      method: "POST",
      headers,
      body: '{"name":"é"}',
    }),
  );
  const [{ head, body }] = up.requests;
  const lines = head.split("\r\n");
  assert.equal(lines[0], "POST /v1/items?q=a%20b HTTP/1.1");
  assert.ok(lines.includes(`host: ${new URL(up.origin).host}`), head);
  assert.ok(lines.includes("x-token: abc"), head);
  assert.ok(lines.includes("content-length: 13"), head);
  assert.equal(lines.filter((l) => l.startsWith("host:")).length, 1);
  assert.equal(lines.filter((l) => l.startsWith("content-length:")).length, 1);
  assert.equal(body, '{"name":"é"}');
});

Deno.test("HttpClient reuses a kept-alive connection for sequential requests", async () => {
  await using up = rawUpstream((i) => ({ bytes: ok(`r${i}`) }));
  using client = closing(new HttpClient());
  for (let i = 0; i < 5; i++) {
    assert.equal(await text(client, request(`${up.origin}/x`)), `r${i}`);
  }
  assert.equal(up.connections, 1);
  assert.equal(client.openConnections, 1);
  client.close();
  assert.equal(client.openConnections, 0);
});

Deno.test("HttpClient retries an idempotent request once when a reused connection was closed", async () => {
  // The server closes each connection after answering, without saying so.
  // The close is seen either while the connection is idle (it is dropped) or
  // once it is taken for the next request (that request is sent again).
  await using up = rawUpstream((i) => ({ bytes: ok(`r${i}`), close: true }));
  using client = closing(new HttpClient());
  assert.equal(await text(client, request(`${up.origin}/x`)), "r0");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await text(client, request(`${up.origin}/x`)), "r1");
  assert.equal(up.connections, 2);
});

Deno.test("HttpClient never sends a POST on a reused connection", async () => {
  await using up = rawUpstream((i) => ({ bytes: ok(`r${i}`) }));
  using client = closing(new HttpClient());
  await text(client, request(`${up.origin}/x`));
  await text(client, request(`${up.origin}/x`, { method: "POST", body: "{}" }));
  await text(client, request(`${up.origin}/x`, { method: "PATCH", body: "{}" }));
  assert.deepEqual(up.requests.map((r) => r.connection), [1, 2, 3]);
});

Deno.test("HttpClient reads chunked bodies with extensions and trailers, and keeps the connection", async () => {
  const chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" +
    '5;ext=1\r\nhello\r\n1;x;q="a b"\r\n \r\n5\r\nworld\r\n0;last\r\nx-trailer: yes\r\n\r\n';
  await using up = rawUpstream(() => ({ bytes: chunked }));
  using client = closing(new HttpClient());
  assert.equal(await text(client, request(`${up.origin}/a`)), "hello world");
  assert.equal(await text(client, request(`${up.origin}/b`)), "hello world");
  assert.equal(up.connections, 1);
});

Deno.test("HttpClient skips informational responses and reads HEAD and 204 without a body", async () => {
  await using up = rawUpstream((_, head) => {
    if (head.startsWith("HEAD")) {
      return { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" };
    }
    if (head.startsWith("DELETE")) return { bytes: "HTTP/1.1 204 No Content\r\n\r\n" };
    return { bytes: "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + ok("final") };
  });
  using client = closing(new HttpClient());
  assert.equal(await text(client, request(`${up.origin}/x`)), "final");
  const head = await client.request(request(`${up.origin}/x`, { method: "HEAD" }));
  assert.equal(head.header("content-length"), "1000");
  assert.equal((await head.read(10)).length, 0);
  const none = await client.request(request(`${up.origin}/x`, { method: "DELETE" }));
  assert.equal(none.status, 204);
  // The HEAD answer announced a body, so its connection was not reused.
  assert.equal(up.connections, 2);
});

Deno.test("HttpClient decodes gzip and brotli bodies and joins repeated headers", async () => {
  const json = JSON.stringify({ data: "q".repeat(3000) });
  const gz = new Uint8Array(gzipSync(ENCODER.encode(json)));
  const br = new Uint8Array(brotliCompressSync(ENCODER.encode(json)));
  await using up = rawUpstream((i) => {
    const [body, coding] = i === 0 ? [gz, "gzip"] : [br, "br"];
    return {
      bytes: bytesOf(
        `HTTP/1.1 200 OK\r\ncontent-encoding: ${coding}\r\nx-a: 1\r\nX-A: 2\r\ncontent-length: ${body.length}\r\n\r\n`,
        body,
      ),
    };
  });
  using client = closing(new HttpClient());
  const first = await client.request(request(`${up.origin}/x`));
  assert.equal(first.header("x-a"), "1, 2");
  assert.equal(DECODER.decode(await first.read(1 << 20)), json);
  assert.equal(await text(client, request(`${up.origin}/x`)), json);
});

Deno.test("HttpClient ends a stalled exchange when its signal aborts, and drops the connection", async (t) => {
  for (const stage of ["headers", "body"] as const) {
    await t.step(stage, async () => {
      await using up = rawUpstream(() =>
        stage === "headers"
          ? "hang"
          : { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial" }
      );
      using client = closing(new HttpClient());
      const controller = new AbortController();
      const pending = client.request(request(`${up.origin}/x`, { signal: controller.signal }))
        .then((res) => res.read(1000));
      setTimeout(() => controller.abort(), 30);
      await assert.rejects(pending);
      assert.equal(client.openConnections, 0);
    });
  }
});

Deno.test("HttpClient reports a connection closed mid-body", async () => {
  await using up = rawUpstream(() => ({
    bytes: "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial",
    close: true,
  }));
  using client = closing(new HttpClient());
  await assert.rejects(text(client, request(`${up.origin}/x`)), ConnectionClosedError);
});

Deno.test("HttpClient speaks HTTPS and verifies the certificate", async () => {
  const [cert, key, ca] = await Promise.all(
    ["leaf.pem", "leaf.key", "ca.pem"].map((f) => Deno.readTextFile(new URL(f, TLS_DIR))),
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("secure"),
  );
  const origin = `https://localhost:${server.addr.port}`;
  using trusting = closing(new HttpClient({ caCerts: [ca] }));
  using strict = closing(new HttpClient());
  try {
    assert.equal(await text(trusting, request(`${origin}/x`)), "secure");
    assert.equal(await text(trusting, request(`${origin}/x`)), "secure");
    // Without the test CA, the handshake fails.
    await assert.rejects(text(strict, request(`${origin}/x`)), /certificate|issuer|UnknownIssuer/i);
  } finally {
    await server.shutdown();
  }
});

Deno.test("HttpClient refuses other schemes and requests after close", async () => {
  const client = new HttpClient();
  await assert.rejects(client.request(request("ftp://127.0.0.1/x")), TypeError);
  client.close();
  await assert.rejects(client.request(request("http://127.0.0.1:9/x")), TypeError);
});

Deno.test("HttpClient closes idle connections past the idle timeout when others are released", async () => {
  await using up = rawUpstream((i) => ({ bytes: ok(`r${i}`) }));
  using client = closing(new HttpClient({ idleTimeoutMs: 20 }));
  // Two connections at once, then both idle.
  await Promise.all([
    text(client, request(`${up.origin}/a`)),
    text(client, request(`${up.origin}/b`)),
  ]);
  assert.equal(client.openConnections, 2);
  await new Promise((r) => setTimeout(r, 40));
  // A POST takes a fresh connection; releasing it sweeps the two expired ones.
  await text(client, request(`${up.origin}/c`, { method: "POST", body: "{}" }));
  assert.equal(client.openConnections, 1);
});

Deno.test("HttpClient parses a response trickled in one byte per write", async () => {
  const chunked = "HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n" +
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  await using up = rawUpstream((i) => ({ bytes: i === 0 ? chunked : ok("again"), trickle: true }));
  using client = closing(new HttpClient());
  const res = await client.request(request(`${up.origin}/a`));
  assert.equal(res.header("x-a"), "1");
  assert.equal(DECODER.decode(await res.read(1000)), "hello world");
  assert.equal(await text(client, request(`${up.origin}/b`)), "again");
  assert.equal(up.connections, 1);
});

Deno.test("HttpClient reads a body of 100,000 one-byte chunks and keeps the connection", async () => {
  const chunks = 100_000;
  let body = "";
  for (let i = 0; i < chunks; i++) {
    body += `1;i=${i % 10}\r\n${String.fromCharCode(97 + (i % 26))}\r\n`;
  }
  const chunked = `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${body}0\r\nx-t: 1\r\n\r\n`;
  await using up = rawUpstream((i) => ({ bytes: i === 0 ? chunked : ok("again") }));
  using client = closing(new HttpClient());
  const res = await client.request(request(`${up.origin}/a`));
  const got = await res.read(1 << 20);
  assert.equal(got.length, chunks);
  for (let i = 0; i < chunks; i += 997) assert.equal(got[i], 97 + (i % 26));
  assert.equal(got[chunks - 1], 97 + ((chunks - 1) % 26));
  assert.equal(await text(client, request(`${up.origin}/b`)), "again");
  assert.equal(up.connections, 1);
});
