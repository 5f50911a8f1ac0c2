import assert from "node:assert/strict";
import { UpstreamError } from "../../errors.ts";
import { runBridge, UpstreamStatusError } from "./mod.ts";
import { makeBridge, RUN, startUpstream } from "../_testing.ts";

Deno.test("runBridge() maps 404 and 500 to UPSTREAM_FAILED with the status and the upstream's text", async () => {
  await using up = startUpstream((req) => {
    const path = new URL(req.url).pathname;
    return path === "/api/missing"
      ? Response.json({ error: "not found" }, { status: 404 })
      : new Response("internal trace\nat line 3", { status: 500 });
  });
  const opts = { ...RUN, signal: AbortSignal.timeout(5000) };
  await assert.rejects(
    runBridge(makeBridge(`${up.origin}/api/missing`), {}, opts),
    (e: unknown) =>
      e instanceof UpstreamStatusError && e.code === "UPSTREAM_FAILED" &&
      e.message === "Upstream answered 404 Not Found: not found" && e.detail === "not found",
  );
  await assert.rejects(
    runBridge(makeBridge(`${up.origin}/api/broken`), {}, opts),
    (e: unknown) =>
      e instanceof UpstreamError &&
      e.message === "Upstream answered 500 Internal Server Error: internal trace at line 3",
  );
});

Deno.test("runBridge() refuses invalid JSON from upstream when response_path is set", async () => {
  await using up = startUpstream(() =>
    new Response("{oops", { headers: { "content-type": "application/json" } })
  );
  await assert.rejects(
    runBridge(makeBridge(`${up.origin}/api`, { responsePath: "data.result" }), {}, {
      ...RUN,
      signal: AbortSignal.timeout(5000),
    }),
    { code: "UPSTREAM_FAILED", message: "Upstream sent invalid JSON" },
  );
});

Deno.test("runBridge() renders, executes and extracts response_path end to end", async () => {
  await using up = startUpstream((req) => {
    const url = new URL(req.url);
    return Response.json({
      status: "success",
      data: { resultType: "vector", result: [{ query: url.searchParams.get("query") }] },
    });
  });
  const bridge = makeBridge(`${up.origin}/api/v1/query`, {
    queryParams: { query: "query", time: "time" },
    headers: { Authorization: "Bearer {{secret:prom-token}}" },
    responsePath: "data.result",
    timeoutMs: 2000,
  });
  const result = await runBridge(bridge, { query: 'up{job="api"}' }, {
    ...RUN,
    signal: AbortSignal.timeout(5000),
    resolveSecret: () => "tok",
  });
  assert.deepEqual(result, {
    text: '[{"query":"up{job=\\"api\\"}"}]',
    structured: [{ query: 'up{job="api"}' }],
    status: 200,
    bytes: result.bytes,
    url: `${up.origin}/api/v1/query?query=up%7Bjob%3D%22api%22%7D`,
    method: "GET",
    redirects: 0,
    secretNames: ["prom-token"],
  });
  assert.ok(result.bytes > 0);
  assert.equal(up.received[0].headers.get("authorization"), "Bearer tok");
  assert.equal(up.received[0].headers.get("accept"), "application/json, */*;q=0.5");
});

Deno.test("runBridge() applies the bridge timeout to the request", async () => {
  await using up = startUpstream(async () => {
    await new Promise((r) => setTimeout(r, 50));
    return new Response("late");
  });
  await assert.rejects(
    runBridge(makeBridge(`${up.origin}/api`, { timeoutMs: 10 }), {}, {
      ...RUN,
      signal: AbortSignal.timeout(5000),
    }),
    { code: "UPSTREAM_TIMEOUT", message: "Upstream did not answer within 10ms" },
  );
});
