/**
 * Tests of `fetch.ts`: the destination check of an authoring command's
 * fetch (a name resolved to loopback, a redirect into a loopback address
 * nobody named, https to http), its bounds (redirects, bytes) and its
 * answers (nothing answering, a followed redirect, a 404). Upstreams are
 * real servers on loopback; the resolver seam stands in for DNS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PolicyError, UpstreamError } from "../errors.ts";
import { HttpClient } from "../net/mod.ts";
import { startUpstream } from "../../tests/_helpers.ts";
import { fetchDocument, fetchText, MAX_REDIRECTS, parseFetchUrl } from "./fetch.ts";

const TLS_DIR = new URL("../../tests/fixtures/tls/", import.meta.url);

/** A resolver that answers 127.0.0.1 for every name. */
const toLoopback = () => Promise.resolve(["127.0.0.1"]);

/** Listen on another loopback address, or null where the system does not allow it. */
function serveOn(hostname: string, body: string): Deno.HttpServer<Deno.NetAddr> | null {
  try {
    return Deno.serve({ hostname, port: 0, onListen() {} }, () => new Response(body));
  } catch {
    return null;
  }
}

Deno.test("fetchText: a name resolved to loopback is refused unless allowNetworks holds it", async () => {
  await using up = await startUpstream(() => new Response("openapi: 3.0.3"));
  const url = `http://docs.example.test:${up.port}/openapi.yaml`;
  await assert.rejects(
    fetchText(url, { lookup: toLoopback }),
    (e: unknown) => e instanceof PolicyError && /loopback address/.test(e.message),
  );
  assert.equal(up.requests.length, 0);
  const allowed = await fetchText(url, { lookup: toLoopback, allowNetworks: ["127.0.0.0/8"] });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.text, "openapi: 3.0.3");
  assert.equal(up.requests.length, 1);
});

Deno.test("fetchText: a redirect to a loopback address the URL does not name is refused", async () => {
  // Servers that would answer, so only the check stands between the redirect and them.
  const other = serveOn("127.0.0.2", "private");
  const six = serveOn("::1", "private");
  try {
    const targets = [
      `http://127.0.0.2:${other?.addr.port ?? 9}/doc`,
      `http://[::1]:${six?.addr.port ?? 9}/doc`,
      `http://localhost:${other?.addr.port ?? 9}/doc`,
    ];
    for (const target of targets) {
      await using up = await startUpstream(() =>
        new Response(null, { status: 302, headers: { location: target } })
      );
      await assert.rejects(
        fetchText(`${up.url}/openapi.json`, { lookup: toLoopback }),
        (e: unknown) => e instanceof PolicyError && /Fetch refused/.test(e.message),
        target,
      );
      assert.equal(up.requests.length, 1);
    }
  } finally {
    await other?.shutdown();
    await six?.shutdown();
  }
});

Deno.test("fetchText: a redirect from https to http is refused", async () => {
  const [cert, key, ca] = await Promise.all(
    ["leaf.pem", "leaf.key", "ca.pem"].map((f) => Deno.readTextFile(new URL(f, TLS_DIR))),
  );
  await using plain = await startUpstream(() => new Response("plain"));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/same"
        ? new Response("secure")
        : new Response(null, { status: 301, headers: { location: `${plain.url}/doc` } }),
  );
  const client = new HttpClient({ caCerts: [ca] });
  try {
    const origin = `https://127.0.0.1:${server.addr.port}`;
    // The TLS server answers when asked directly.
    assert.equal((await fetchText(`${origin}/same`, { client })).text, "secure");
    await assert.rejects(
      fetchText(`${origin}/doc`, { client }),
      (e: unknown) => e instanceof PolicyError && /from https to http/.test(e.message),
    );
    assert.equal(plain.requests.length, 0);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("fetchText: more than MAX_REDIRECTS redirects are refused", async () => {
  await using up = await startUpstream((req) => {
    const n = Number(new URL(req.url).pathname.slice(1)) || 0;
    return new Response(null, { status: 302, headers: { location: `/${n + 1}` } });
  });
  await assert.rejects(
    fetchText(`${up.url}/0`),
    (e: unknown) =>
      e instanceof UpstreamError && e.code === "UPSTREAM_FAILED" &&
      new RegExp(`redirected more than ${MAX_REDIRECTS} times`).test(e.message),
  );
  assert.equal(up.requests.length, MAX_REDIRECTS + 1);
});

Deno.test("fetchText: a body past maxBytes is refused", async () => {
  await using up = await startUpstream(() => new Response("x".repeat(4096)));
  await assert.rejects(
    fetchText(`${up.url}/big.json`, { maxBytes: 1024 }),
    (e: unknown) => e instanceof UpstreamError && e.code === "RESPONSE_TOO_LARGE",
  );
  const fits = await fetchText(`${up.url}/big.json`, { maxBytes: 4096 });
  assert.equal(fits.text.length, 4096);
});

Deno.test("fetchText: a server that closes without answering gives 'Nothing answered'", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    await assert.rejects(
      fetchText(`http://127.0.0.1:${listener.addr.port}/openapi.json`),
      (e: unknown) =>
        e instanceof UpstreamError && /^Nothing answered at http:\/\/127\.0\.0\.1:/.test(e.message),
    );
  } finally {
    listener.close();
    await accepting.catch(() => {});
  }
});

Deno.test("fetchText: a same-host redirect is followed and url is the final one", async () => {
  await using up = await startUpstream((req) =>
    new URL(req.url).pathname === "/old"
      ? new Response(null, { status: 308, headers: { location: "/v2/openapi.json?x=1" } })
      : Response.json({ openapi: "3.1.0" }, { headers: { "content-type": "application/json" } })
  );
  const fetched = await fetchText(`${up.url}/old`);
  assert.equal(fetched.status, 200);
  assert.equal(fetched.url.href, `${up.url}/v2/openapi.json?x=1`);
  assert.match(fetched.contentType, /application\/json/);
  assert.deepEqual(JSON.parse(fetched.text), { openapi: "3.1.0" });
  assert.equal(up.requests.length, 2);
});

Deno.test("fetchText returns a 404; fetchDocument refuses it naming the status", async () => {
  await using up = await startUpstream(() => new Response("gone", { status: 404 }));
  const answer = await fetchText(`${up.url}/missing.json?token=abc`);
  assert.equal(answer.status, 404);
  assert.equal(answer.text, "gone");
  await assert.rejects(
    fetchDocument(`${up.url}/missing.json?token=abc`),
    (e: unknown) =>
      e instanceof UpstreamError && e.code === "UPSTREAM_FAILED" &&
      e.message === `${up.url}/missing.json answered HTTP 404`,
  );
});

Deno.test("parseFetchUrl: only http(s), no credentials, the fragment dropped", () => {
  assert.throws(() => parseFetchUrl("file:///etc/passwd"), TypeError);
  assert.throws(() => parseFetchUrl("http://user:pw@127.0.0.1/"), TypeError);
  assert.throws(() => parseFetchUrl("not a url"), TypeError);
  assert.equal(parseFetchUrl("https://api.test/a.json#x").href, "https://api.test/a.json");
});
