import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { PolicyError, UpstreamError } from "../../errors.ts";
import { decideRedirect, type ExecuteOptions, executeRequest, sandboxDenial } from "./execute.ts";
import { HttpClient } from "../../net/mod.ts";
import { renderRequest } from "./render.ts";
import { runBridge } from "./mod.ts";
import {
  byteSink,
  closedPort,
  delay,
  makeBridge,
  RUN,
  startUpstream,
  stopper,
  type Upstream,
} from "../_testing.ts";

const MiB = 1024 * 1024;

function optionsFor(up: { origin: string }, extra: Partial<ExecuteOptions> = {}): ExecuteOptions {
  return {
    signal: AbortSignal.timeout(5000),
    maxResponseBytes: MiB,
    allowNetworks: [],
    configuredOrigin: up.origin,
    configuredHost: "127.0.0.1",
    pathPrefix: "/",
    pathIsLiteral: false,
    ...extra,
  };
}

function get(up: Upstream, path: string) {
  return renderRequest(makeBridge(`${up.origin}${path}`), {});
}

function upstreamError(code: string, message?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UpstreamError, `expected UpstreamError, got ${e}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  };
}

// --- Redirects (docs/security-requirements.md, NET-6, NET-7) ---

Deno.test("executeRequest() refuses a redirect to another origin and the other origin receives nothing", async () => {
  await using other = startUpstream(() => new Response("secret-eater"));
  await using up = startUpstream(() =>
    new Response(null, { status: 307, headers: { location: `${other.origin}/steal` } })
  );
  const bridge = makeBridge(`${up.origin}/api`, {
    method: "POST",
    headers: { "X-Api-Key": "{{secret:k}}" },
    bodyTemplate: { a: 1 },
  });
  await assert.rejects(
    runBridge(bridge, {}, {
      ...RUN,
      signal: AbortSignal.timeout(5000),
      resolveSecret: () => "key-value",
    }),
    (e: unknown) => e instanceof PolicyError && e.message === "Redirect to another origin refused",
  );
  assert.equal(up.received.length, 1);
  assert.equal(other.received.length, 0);
});

Deno.test("executeRequest() refuses a redirect to 169.254.169.254 without connecting", async () => {
  await using up = startUpstream(() =>
    new Response(null, {
      status: 302,
      headers: { location: "http://169.254.169.254/latest/meta-data/" },
    })
  );
  // Refused by the redirect decision, before any connection: an attempt to
  // reach 169.254.169.254 would end as an UpstreamError (unreachable, or the
  // 5 s call deadline), never as this PolicyError. The test above proves the
  // same rule on an origin that can count what it receives.
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up)),
    (e: unknown) => e instanceof PolicyError && e.message === "Redirect to another origin refused",
  );
  assert.equal(up.received.length, 1);
});

Deno.test("executeRequest() refuses a chain of six redirects", async () => {
  await using up = startUpstream((req) => {
    const n = Number(new URL(req.url).pathname.split("/").pop());
    return new Response(null, { status: 302, headers: { location: `/api/hop/${n + 1}` } });
  });
  await assert.rejects(
    executeRequest(get(up, "/api/hop/0"), optionsFor(up)),
    upstreamError("UPSTREAM_FAILED", /^Too many redirects: more than 5$/),
  );
  assert.equal(up.received.length, 6);
});

Deno.test("executeRequest() refuses a redirect loop", async () => {
  await using up = startUpstream((req) => {
    const path = new URL(req.url).pathname;
    return new Response(null, {
      status: 301,
      headers: { location: path === "/api/a" ? "/api/b" : "/api/a" },
    });
  });
  await assert.rejects(
    executeRequest(get(up, "/api/a"), optionsFor(up)),
    upstreamError("UPSTREAM_FAILED", /^Redirect loop refused$/),
  );
  assert.equal(up.received.length, 2);
});

Deno.test("executeRequest() refuses a redirect to a non-HTTP scheme", async () => {
  await using up = startUpstream(() =>
    new Response(null, { status: 302, headers: { location: "file:///etc/passwd" } })
  );
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up)),
    (e: unknown) =>
      e instanceof PolicyError && e.message === "Redirect to a non-HTTP scheme refused",
  );
});

Deno.test("decideRedirect() refuses https to http, other schemes, credentials and other origins", () => {
  const origin = {
    configuredOrigin: "https://api.example.com",
    pathPrefix: "/",
    pathIsLiteral: false,
  };
  const from = new URL("https://api.example.com/v1/a");
  assert.deepEqual(decideRedirect(from, new URL("http://api.example.com/v1/b"), origin), {
    allow: false,
    reason: "Redirect from https to http refused",
  });
  for (const to of ["ftp://api.example.com/x", "javascript:alert(1)", "data:text/plain,x"]) {
    assert.deepEqual(decideRedirect(from, new URL(to), origin), {
      allow: false,
      reason: "Redirect to a non-HTTP scheme refused",
    });
  }
  assert.equal(
    decideRedirect(from, new URL("https://u:p@api.example.com/x"), origin).allow,
    false,
  );
  for (
    const to of [
      "https://api.example.com.evil.com/",
      "https://evil.com/?u=api.example.com",
      "https://api.example.com:8443/",
      "https://169.254.169.254/",
    ]
  ) {
    assert.deepEqual(decideRedirect(from, new URL(to), origin), {
      allow: false,
      reason: "Redirect to another origin refused",
    }, to);
  }
  assert.deepEqual(decideRedirect(from, new URL("https://api.example.com/v2"), origin), {
    allow: true,
  });
});

const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

Deno.test("executeRequest() refuses a redirect outside the configured path prefix for every status and method, and the outside path receives nothing", async () => {
  for (const status of REDIRECT_STATUSES) {
    for (const method of ["GET", "POST", "DELETE"] as const) {
      await using up = startUpstream((req) => {
        const path = new URL(req.url).pathname;
        if (path === "/api/v1/start") {
          return new Response(null, { status, headers: { location: "/admin/keys" } });
        }
        return new Response("outside");
      });
      const bridge = makeBridge(`${up.origin}/api/v1/{{what}}`, {
        method,
        headers: { "X-Api-Key": "{{secret:k}}" },
      });
      await assert.rejects(
        runBridge(bridge, { what: "start" }, {
          ...RUN,
          signal: AbortSignal.timeout(5000),
          resolveSecret: () => "key-value",
        }),
        (e: unknown) =>
          e instanceof PolicyError &&
          e.message === "Redirect outside the configured path refused",
        `${status} ${method}`,
      );
      assert.deepEqual(up.received.map((r) => r.url.pathname), ["/api/v1/start"], `${status}`);
    }
  }
});

Deno.test("executeRequest() follows a redirect inside the configured path prefix for every status", async () => {
  for (const status of REDIRECT_STATUSES) {
    await using up = startUpstream((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/start") {
        return new Response(null, { status, headers: { location: "/api/v1/next" } });
      }
      return new Response(`at ${path}`);
    });
    const bridge = makeBridge(`${up.origin}/api/v1/{{what}}`, { method: "POST" });
    const result = await runBridge(bridge, { what: "start" }, {
      ...RUN,
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(result.text, "at /api/v1/next", `${status}`);
    assert.equal(result.redirects, 1);
  }
});

Deno.test("executeRequest() refuses a redirect whose dot segments, plain or encoded, climb out of the prefix", async () => {
  for (
    const location of [
      "/api/v1/../../admin",
      "/api/v1/%2e%2e/%2E%2E/admin",
      "/api/v1/.%2e/.%2e/admin",
      "/api/v1/..%2f..%2fadmin",
      "/api/v1/..%5c..%5cadmin",
      "/api/v1/..;/..;/admin",
      "\\api\\v1\\..\\..\\admin",
    ]
  ) {
    await using up = startUpstream((req) =>
      new URL(req.url).pathname === "/api/v1/start"
        ? new Response(null, { status: 302, headers: { location } })
        : new Response("outside")
    );
    await assert.rejects(
      runBridge(makeBridge(`${up.origin}/api/v1/{{what}}`), { what: "start" }, {
        ...RUN,
        signal: AbortSignal.timeout(5000),
      }),
      (e: unknown) =>
        e instanceof PolicyError && e.message === "Redirect outside the configured path refused",
      location,
    );
    assert.equal(up.received.length, 1, location);
  }
});

Deno.test("decideRedirect() holds a hop to the configured origin and path prefix", () => {
  const target = {
    configuredOrigin: "https://api.example.com",
    pathPrefix: "/v1/",
    pathIsLiteral: false,
  };
  const from = new URL("https://api.example.com/v1/a");
  assert.deepEqual(decideRedirect(from, new URL("https://api.example.com/v1/b"), target), {
    allow: true,
  });
  for (
    const to of [
      "https://api.example.com/v2/b",
      "https://api.example.com/",
      "https://api.example.com/v1",
    ]
  ) {
    assert.deepEqual(decideRedirect(from, new URL(to), target), {
      allow: false,
      reason: "Redirect outside the configured path refused",
    }, to);
  }
});

Deno.test("decideRedirect() matches a fully literal path by whole segments", () => {
  const target = {
    configuredOrigin: "https://api.example.com",
    pathPrefix: "/v1/items",
    pathIsLiteral: true,
  };
  const from = new URL("https://api.example.com/v1/items");
  for (const to of ["/v1/items", "/v1/items/", "/v1/items/7", "/v1/items?page=2"]) {
    assert.deepEqual(decideRedirect(from, new URL(to, from), target), { allow: true }, to);
  }
  for (const to of ["/v1/items2", "/v1/items-admin", "/v1/item", "/v1/items%2f..%2fkeys"]) {
    assert.deepEqual(decideRedirect(from, new URL(to, from), target), {
      allow: false,
      reason: "Redirect outside the configured path refused",
    }, to);
  }
  // A prefix cut by a placeholder continues inside its segment, as rendering does.
  const cut = { ...target, pathPrefix: "/v1/items-", pathIsLiteral: false };
  assert.deepEqual(decideRedirect(from, new URL("/v1/items-7", from), cut), { allow: true });
});

Deno.test("executeRequest() refuses a redirect from a literal path to a sibling that shares its text", async () => {
  await using up = startUpstream((req) =>
    new URL(req.url).pathname === "/v1/items"
      ? new Response(null, { status: 307, headers: { location: "/v1/items-admin" } })
      : new Response("outside")
  );
  await assert.rejects(
    runBridge(makeBridge(`${up.origin}/v1/items`), {}, {
      ...RUN,
      signal: AbortSignal.timeout(5000),
    }),
    (e: unknown) =>
      e instanceof PolicyError && e.message === "Redirect outside the configured path refused",
  );
  assert.equal(up.received.length, 1);
});

Deno.test("executeRequest() follows same-origin redirects and counts them", async () => {
  await using up = startUpstream((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/a") {
      return new Response(null, { status: 301, headers: { location: "/api/b" } });
    }
    if (path === "/api/b") {
      return new Response(null, { status: 308, headers: { location: `${up.origin}/api/c` } });
    }
    return Response.json({ at: path });
  });
  const res = await executeRequest(get(up, "/api/a"), optionsFor(up));
  assert.equal(res.status, 200);
  assert.equal(res.redirects, 2);
  assert.equal(res.url, `${up.origin}/api/c`);
  assert.equal(res.bodyText, '{"at":"/api/c"}');
});

Deno.test("executeRequest() follows exactly five redirects", async () => {
  await using up = startUpstream((req) => {
    const n = Number(new URL(req.url).pathname.split("/").pop());
    if (n === 5) return new Response("done");
    return new Response(null, { status: 302, headers: { location: `/api/hop/${n + 1}` } });
  });
  const res = await executeRequest(get(up, "/api/hop/0"), optionsFor(up));
  assert.equal(res.redirects, 5);
  assert.equal(res.bodyText, "done");
});

Deno.test("executeRequest() turns POST into GET without a body on 303, keeps both on 307", async () => {
  await using up = startUpstream((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/see-other") {
      return new Response(null, { status: 303, headers: { location: "/api/result" } });
    }
    if (path === "/api/temporary") {
      return new Response(null, { status: 307, headers: { location: "/api/result" } });
    }
    return new Response("ok");
  });
  const post = (path: string) =>
    renderRequest(
      makeBridge(`${up.origin}${path}`, { method: "POST", bodyTemplate: { x: 1 } }),
      {},
    );
  await executeRequest(post("/api/see-other"), optionsFor(up));
  assert.equal(up.received[1].method, "GET");
  assert.equal(up.received[1].body, "");
  assert.equal(up.received[1].headers.has("content-type"), false);
  await executeRequest(post("/api/temporary"), optionsFor(up));
  assert.equal(up.received[3].method, "POST");
  assert.equal(up.received[3].body, '{"x":1}');
});

Deno.test("executeRequest() refuses a first request outside the configured origin", async () => {
  await using up = startUpstream(() => new Response("ok"));
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up, { configuredOrigin: "http://127.0.0.1:1" })),
    PolicyError,
  );
  assert.equal(up.received.length, 0);
});

Deno.test("executeRequest() refuses a loopback upstream the config does not name", async () => {
  await using up = startUpstream(() => new Response("ok"));
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up, { configuredHost: "api.example.com" })),
    (e: unknown) =>
      e instanceof PolicyError &&
      e.message === 'Destination "127.0.0.1" resolves to a loopback address (127.0.0.0/8)',
  );
  assert.equal(up.received.length, 0);
});

// --- Connecting to the checked address (DNS rebinding) ---

Deno.test("executeRequest() connects to the address the check approved, not where the name resolves at connect time", async () => {
  // The system resolves `localhost` to 127.0.0.1; the check's resolver said
  // 127.0.0.2. The request must go to 127.0.0.2, and 127.0.0.1 get nothing.
  await using sink = byteSink("127.0.0.1");
  await using checked = Deno.serve(
    { hostname: "127.0.0.2", port: sink.port, onListen() {} },
    (req) => new Response(`checked ${new URL(req.url).pathname}`),
  );
  const origin = `http://localhost:${sink.port}`;
  const res = await executeRequest(renderRequest(makeBridge(`${origin}/api`), {}), {
    ...optionsFor({ origin }),
    configuredHost: "localhost",
    allowNetworks: ["127.0.0.2/32"],
    lookup: () => Promise.resolve(["127.0.0.2"]),
  });
  assert.equal(res.bodyText, "checked /api");
  assert.equal(sink.bytes, 0);
  assert.equal(checked.addr.port, sink.port);
});

Deno.test("executeRequest() verifies TLS against the host name when it connects to the checked address", async () => {
  const tls = new URL("../../../tests/fixtures/tls/", import.meta.url);
  const [cert, key, ca] = await Promise.all(
    ["leaf.pem", "leaf.key", "ca.pem"].map((f) => Deno.readTextFile(new URL(f, tls))),
  );
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("secure"),
  );
  const origin = `https://localhost:${server.addr.port}`;
  const options = {
    ...optionsFor({ origin }),
    configuredHost: "localhost",
    lookup: () => Promise.resolve(["127.0.0.1"]),
  };
  const trusting = new HttpClient({ caCerts: [ca] });
  try {
    const res = await executeRequest(renderRequest(makeBridge(`${origin}/x`), {}), {
      ...options,
      client: trusting,
    });
    assert.equal(res.bodyText, "secure");
  } finally {
    trusting.close();
  }
  // Without the test CA the handshake fails: the address is pinned, the name still verified.
  await assert.rejects(
    executeRequest(renderRequest(makeBridge(`${origin}/x`), {}), options),
    upstreamError("UPSTREAM_FAILED", /TLS handshake failed/),
  );
});

// --- Size bombs (docs/security-requirements.md, NET-9) ---

let bomb: Uint8Array<ArrayBuffer> | undefined;
function gzipBomb(): Uint8Array<ArrayBuffer> {
  bomb ??= new Uint8Array(gzipSync(new Uint8Array(50 * MiB), { level: 9 }));
  return bomb;
}

/**
 * Reads the bomb in a child process: `deno test --parallel` runs test modules
 * in one process, so in-process RSS would count other modules' allocations.
 */
const BOMB_PROBE = (origin: string) => `
import { executeRequest } from ${JSON.stringify(new URL("./execute.ts", import.meta.url).href)};
import { renderRequest } from ${JSON.stringify(new URL("./render.ts", import.meta.url).href)};
const origin = ${JSON.stringify(origin)};
const bridge = (path) => ({ toolName: "t", method: "GET", url: origin + path, queryParams: {},
  headers: {}, bodyTemplate: null, responsePath: null, timeoutMs: null });
const options = { signal: AbortSignal.timeout(10000), maxResponseBytes: ${MiB}, allowNetworks: [],
  configuredOrigin: origin, configuredHost: "127.0.0.1", pathPrefix: "/",
  pathIsLiteral: false };
await executeRequest(renderRequest(bridge("/warm"), {}), options);
const before = Deno.memoryUsage().rss;
let outcome = { code: "none", message: "" };
try {
  await executeRequest(renderRequest(bridge("/bomb"), {}), options);
} catch (e) {
  outcome = { code: e.code, message: e.message };
}
console.log(JSON.stringify({ ...outcome, growth: Deno.memoryUsage().rss - before }));
`;

Deno.test("executeRequest() stops a gzip bomb at the decompressed-byte cap", async () => {
  const body = gzipBomb();
  assert.ok(body.byteLength < 60_000, `bomb is ${body.byteLength} bytes`);
  await using up = startUpstream((req) =>
    new URL(req.url).pathname === "/warm" ? new Response("{}") : new Response(body, {
      headers: {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "content-length": String(body.byteLength),
      },
    })
  );
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--config",
      new URL("../../../deno.json", import.meta.url).pathname,
      BOMB_PROBE(up.origin),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(child.stdout));
  assert.equal(result.code, "RESPONSE_TOO_LARGE");
  assert.equal(result.message, "Response exceeds 1MiB");
  assert.ok(result.growth < 20 * MiB, `RSS grew by ${(result.growth / MiB).toFixed(1)} MiB`);
  assert.equal(up.received.length, 2);
});

Deno.test("executeRequest() stops an endless plain body at the cap", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(97);
  await using up = startUpstream(() =>
    new Response(
      new ReadableStream({
        pull(c) {
          c.enqueue(chunk);
        },
      }),
    )
  );
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up, { maxResponseBytes: 256 * 1024 })),
    upstreamError("RESPONSE_TOO_LARGE", /^Response exceeds 256KiB$/),
  );
});

Deno.test("executeRequest() refuses a declared Content-Length above the cap before reading", async () => {
  await using up = startUpstream(() => new Response("x".repeat(2000)));
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up, { maxResponseBytes: 1000 })),
    upstreamError("RESPONSE_TOO_LARGE", /^Response exceeds 1000 bytes$/),
  );
});

Deno.test("executeRequest() reads a body exactly at the cap", async () => {
  await using up = startUpstream(() => new Response("x".repeat(1000)));
  const res = await executeRequest(get(up, "/api"), optionsFor(up, { maxResponseBytes: 1000 }));
  assert.equal(res.bytes, 1000);
});

Deno.test("executeRequest() counts decompressed bytes of a small gzip body", async () => {
  const text = JSON.stringify({ data: "y".repeat(5000) });
  const gz = new Uint8Array(gzipSync(new TextEncoder().encode(text)));
  await using up = startUpstream(() =>
    new Response(gz, {
      headers: { "content-encoding": "gzip", "content-type": "application/json" },
    })
  );
  const res = await executeRequest(get(up, "/api"), optionsFor(up));
  assert.equal(res.bodyText, text);
  assert.equal(res.bytes, text.length);
});

// --- Slowloris and timeouts (docs/security-requirements.md, NET-10) ---

Deno.test("executeRequest() aborts an upstream that never sends headers at the call deadline", async () => {
  let upstreamAnswered = false;
  await using up = startUpstream(async () => {
    await delay(3000, stop.signal);
    upstreamAnswered = true;
    return new Response("late");
  });
  using stop = stopper();
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up, { signal: AbortSignal.timeout(300) })),
    upstreamError("UPSTREAM_TIMEOUT", /^Upstream did not answer within the call deadline$/),
  );
  // The order of events, not elapsed time: the call ended while the upstream still held it.
  assert.equal(upstreamAnswered, false, "the request waited for the upstream's answer");
});

Deno.test("executeRequest() aborts a trickling body at the per-request timeout", async () => {
  type Interval = ReturnType<typeof setInterval>;
  const timers: Interval[] = [];
  await using up = startUpstream(() => {
    let id: Interval | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array([123]));
        id = setInterval(() => {
          try {
            c.enqueue(new Uint8Array([32]));
          } catch {
            clearInterval(id);
          }
        }, 100);
        timers.push(id!);
      },
      cancel() {
        clearInterval(id);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  try {
    // The body never ends, so only a limit can end the call; the message
    // names the one that fired: the 400 ms per-request timeout, not the 5 s
    // call deadline of optionsFor() (which a timer reset by every chunk would
    // leave as the only one).
    await assert.rejects(
      executeRequest(get(up, "/api"), optionsFor(up, { timeoutMs: 400 })),
      upstreamError("UPSTREAM_TIMEOUT", /^Upstream did not answer within 400ms$/),
    );
    assert.equal(up.received.length, 1);
  } finally {
    for (const id of timers) clearInterval(id);
  }
});

Deno.test("executeRequest() names the per-request limit when it fires before the call deadline", async () => {
  await using up = startUpstream(async () => {
    await delay(3000, stop.signal);
    return new Response("late");
  });
  using stop = stopper();
  await assert.rejects(
    executeRequest(
      get(up, "/api"),
      optionsFor(up, { timeoutMs: 1000, signal: AbortSignal.timeout(5000) }),
    ),
    upstreamError("UPSTREAM_TIMEOUT", /^Upstream did not answer within 1s$/),
  );
});

Deno.test("executeRequest() sends nothing when the deadline has already passed", async () => {
  await using up = startUpstream(() => new Response("ok"));
  const controller = new AbortController();
  controller.abort(new DOMException("late", "TimeoutError"));
  await assert.rejects(
    executeRequest(get(up, "/api"), optionsFor(up, { signal: controller.signal })),
    upstreamError("UPSTREAM_TIMEOUT"),
  );
  assert.equal(up.received.length, 0);
});

Deno.test("executeRequest() reports a cancelled call as cancelled", async () => {
  await using up = startUpstream(async () => {
    await delay(3000, stop.signal);
    return new Response("late");
  });
  using stop = stopper();
  const controller = new AbortController();
  const pending = executeRequest(get(up, "/api"), optionsFor(up, { signal: controller.signal }));
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(pending, upstreamError("UPSTREAM_FAILED", /^Upstream call was cancelled$/));
});

// --- Connection failures ---

Deno.test("executeRequest() maps connection refused to UPSTREAM_FAILED without the URL", async () => {
  const port = closedPort();
  const origin = `http://127.0.0.1:${port}`;
  const req = renderRequest(
    makeBridge(`${origin}/api`, { queryParams: { k: "key" } }),
    { k: "query-secret" },
  );
  await assert.rejects(
    executeRequest(req, optionsFor({ origin })),
    (e: unknown) => {
      upstreamError("UPSTREAM_FAILED", /^Cannot reach "127\.0\.0\.1:\d+": connection refused$/)(e);
      const err = e as Error;
      assert.equal(err.cause, undefined);
      assert.ok(!err.message.includes("query-secret"));
      return true;
    },
  );
});

async function rawServer(onData: (socket: Socket) => void): Promise<Server & AsyncDisposable> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", () => onData(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(server, {
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

Deno.test("executeRequest() maps a connection reset mid-body to UPSTREAM_FAILED", async () => {
  await using server = await rawServer((socket) => {
    socket.write(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\npartial",
    );
    setTimeout(() => socket.destroy(), 50);
  });
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await assert.rejects(
    executeRequest(renderRequest(makeBridge(`${origin}/api`), {}), optionsFor({ origin })),
    upstreamError(
      "UPSTREAM_FAILED",
      /^Cannot read response from "127\.0\.0\.1:\d+": connection reset$/,
    ),
  );
});

Deno.test("executeRequest() maps a connection closed before headers to UPSTREAM_FAILED", async () => {
  await using server = await rawServer((socket) => socket.destroy());
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await assert.rejects(
    executeRequest(renderRequest(makeBridge(`${origin}/api`), {}), optionsFor({ origin })),
    upstreamError("UPSTREAM_FAILED", /^Cannot reach "127\.0\.0\.1:\d+": connection reset$/),
  );
});

Deno.test("executeRequest() maps a DNS failure to UPSTREAM_FAILED", async () => {
  const req = renderRequest(makeBridge("http://api.example.invalid/v1"), {});
  await assert.rejects(
    executeRequest(req, {
      ...optionsFor({ origin: "http://api.example.invalid" }),
      configuredHost: "api.example.invalid",
      lookup: () => Promise.reject(new Error("ENOTFOUND")),
    }),
    upstreamError("UPSTREAM_FAILED", /^Cannot resolve "api\.example\.invalid"$/),
  );
});

Deno.test("executeRequest() returns status, content type, bytes and final URL", async () => {
  await using up = startUpstream(() =>
    new Response("héllo", { status: 201, headers: { "content-type": "text/plain; charset=utf-8" } })
  );
  const res = await executeRequest(get(up, "/api"), optionsFor(up));
  assert.deepEqual(res, {
    status: 201,
    contentType: "text/plain; charset=utf-8",
    bodyText: "héllo",
    bytes: 6,
    redirects: 0,
    url: `${up.origin}/api`,
  });
});

Deno.test("executeRequest() decodes invalid UTF-8 with replacement characters", async () => {
  await using up = startUpstream(() => new Response(new Uint8Array([0x61, 0xff, 0x62])));
  const res = await executeRequest(get(up, "/api"), optionsFor(up));
  assert.equal(res.bodyText, "a\ufffdb");
});

Deno.test("sandboxDenial() names host:port of Deno's refusals, before and after resolution", () => {
  const before = new Deno.errors.NotCapable(
    'Requires net access to "127.0.0.1:8080", run again with the --allow-net flag',
  );
  assert.equal(sandboxDenial(before), "127.0.0.1:8080");
  const after = new TypeError("fetch failed", {
    cause: new Error(
      'error sending request: client error (Connect): Requires net access to "127.0.0.1:9"',
    ),
  });
  assert.equal(sandboxDenial(after), "127.0.0.1:9");
  // A top-level TypeError quoting the phrase (e.g. from a response) is not a denial.
  assert.equal(sandboxDenial(new TypeError('Requires net access to "x:1"')), null);
  assert.equal(sandboxDenial(new Deno.errors.NotCapable("Requires read access")), null);
  assert.equal(sandboxDenial(new Error("connection refused")), null);
});
