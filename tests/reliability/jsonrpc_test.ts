/**
 * Reliability: malformed JSON-RPC against the real server, over streamable HTTP
 * and over stdio (see "Reliability suite" in docs/performance.md): invalid JSON
 * is -32700; batches, null ids, wrong member types and over-long ids are
 * -32600; unknown methods -32601; bodies past 1 MiB are 413; header floods are
 * refused and the server keeps serving. Unit tests of the Hono app
 * (`src/web/mcp_http_test.ts`) cover the same codes in-process; these run
 * through `loom run` itself.
 *
 * Header floods are answered by `Deno.serve` (hyper) before LOOM's handler
 * runs: more than about 127 header fields, or a header section of 64 KiB or
 * more, gets `400 Bad Request` (not 431) and the connection is closed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { initializeRequest, runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";
import { post, RawSession, resultText } from "./_helpers.ts";

function agentYaml(url: string): string {
  return `agent:
  name: rpc-test
  exposes:
    - name: echo
      description: Echo a word
      parameters:
        word: { type: string, max_length: 64 }
  http_bridge:
    - tool_name: echo
      url: "${url}/echo"
      query_params: { word: word }
`;
}

/** Send raw bytes on a new connection; return the status line, or "closed". */
async function rawHttp(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(request);
    try {
      for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
    } catch {
      // The server may close before reading everything; its answer is still read below.
    }
    const buf = new Uint8Array(16 * 1024);
    let text = "";
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
        if (text.includes("\r\n\r\n")) break;
      }
    } catch {
      // Reset by the server.
    }
    return text.split("\r\n")[0] || "closed";
  } finally {
    conn.close();
  }
}

Deno.test("loom run --transport http answers malformed JSON-RPC with the right codes and keeps serving", async (t) => {
  await using dir = await tempDir();
  await using api = await startUpstream((req) =>
    Response.json({ word: new URL(req.url).searchParams.get("word") })
  );
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  const session = await RawSession.open(server.url);
  const code = (a: { json: { error?: { code: number } } }) => a.json?.error?.code;

  await t.step("invalid JSON is 400 with -32700 and a null id", async () => {
    for (const body of ["{", '{"jsonrpc":"2.0",', "nul", "\u0000"]) {
      const a = await session.send(body);
      assert.equal(a.status, 400);
      assert.equal(code(a), -32700);
      assert.equal(a.json.id, null);
    }
  });

  await t.step("batches are 400 with -32600", async () => {
    for (const body of ["[]", '[{"jsonrpc":"2.0","id":1,"method":"ping"}]']) {
      const a = await session.send(body);
      assert.equal(a.status, 400);
      assert.equal(code(a), -32600);
    }
  });

  await t.step("a null id is 400 with -32600", async () => {
    const a = await session.send('{"jsonrpc":"2.0","id":null,"method":"ping"}');
    assert.equal(a.status, 400);
    assert.equal(code(a), -32600);
    assert.equal(a.json.id, null);
  });

  await t.step("wrong types for id, method, params and jsonrpc are -32600", async () => {
    const bodies: unknown[] = [
      { jsonrpc: "2.0", id: {}, method: "ping" },
      { jsonrpc: "2.0", id: true, method: "ping" },
      { jsonrpc: "2.0", id: 1.5, method: "ping" },
      { jsonrpc: "2.0", id: [1], method: "ping" },
      { jsonrpc: "2.0", id: 2 ** 60, method: "ping" },
      { jsonrpc: "2.0", id: 1, method: 42 },
      { jsonrpc: "2.0", id: 1, method: "" },
      { jsonrpc: "2.0", id: 1, method: "ping", params: [] },
      { jsonrpc: "2.0", id: 1, method: "ping", params: "x" },
      { jsonrpc: "2.0", id: 1, method: "ping", params: null },
      { jsonrpc: "1.0", id: 1, method: "ping" },
      { id: 1, method: "ping" },
      { jsonrpc: "2.0" },
      "ping",
      42,
      null,
    ];
    for (const body of bodies) {
      const a = await session.send(JSON.stringify(body));
      assert.equal(a.status, 400, JSON.stringify(body));
      assert.equal(code(a), -32600, JSON.stringify(body));
    }
  });

  await t.step(
    "an id longer than 256 characters is -32600 with a null id; 256 is fine",
    async () => {
      const long = await session.request("ping", undefined, "x".repeat(257));
      assert.equal(long.status, 400);
      assert.equal(code(long), -32600);
      assert.equal(long.json.id, null);
      const huge = await session.request("ping", undefined, "x".repeat(100_000));
      assert.equal(code(huge), -32600);
      const ok = await session.request("ping", undefined, "y".repeat(256));
      assert.equal(ok.status, 200);
      assert.equal(ok.json.id, "y".repeat(256));
    },
  );

  await t.step("unknown methods are -32601; bad tools/call params are -32602", async () => {
    const a = await session.request("tools/destroy", {});
    assert.equal(code(a), -32601);
    assert.equal((await session.request("resources/list")).json.error.code, -32601);
    assert.equal(code(await session.request("tools/call", { name: 42 })), -32602);
    assert.equal(code(await session.request("tools/call", { name: "nope" })), -32602);
  });

  await t.step("a body over 1 MiB is 413, with or without Content-Length", async () => {
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { word: "x".repeat(1024 * 1024) } },
    });
    const declared = await session.send(big);
    assert.equal(declared.status, 413);
    assert.equal(code(declared), -32600);
    const bytes = new TextEncoder().encode(big);
    const streamed = await fetch(server.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...session.headers,
      },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < bytes.length; i += 65536) c.enqueue(bytes.slice(i, i + 65536));
          c.close();
        },
      }),
    });
    assert.equal(streamed.status, 413);
    await streamed.body?.cancel();
  });

  await t.step("header floods get 400 from Deno.serve and the server keeps serving", async () => {
    const port = Number(new URL(server.url).port);
    const many = Array.from({ length: 5000 }, (_, i) => `x-flood-${i}: v`).join("\r\n");
    const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
    const request = (extra: string) =>
      `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\n${extra}\r\n\r\n${body}`;
    const flood = await rawHttp(port, request(many));
    assert.match(flood, /^HTTP\/1\.1 400 |^closed$/);
    const oneBig = await rawHttp(port, request(`x-big: ${"a".repeat(1024 * 1024)}`));
    assert.match(oneBig, /^HTTP\/1\.1 400 |^closed$/);
    const health = await fetch(server.url.replace("/mcp", "/healthz"));
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const call = await session.call("echo", { word: "still-here" });
    assert.deepEqual(JSON.parse(resultText(call.json.result)), { word: "still-here" });
  });

  await t.step("concurrent requests may reuse one id: each POST gets its own answer", async () => {
    const words = Array.from({ length: 24 }, (_, i) => `w${i}`);
    const answers = await Promise.all(words.map((word) =>
      session.send(JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: { name: "echo", arguments: { word } },
      }))
    ));
    answers.forEach((a, i) => {
      assert.equal(a.json.id, 7);
      assert.deepEqual(JSON.parse(resultText(a.json.result)), { word: words[i] });
    });
  });

  await t.step("a POST without a JSON content type is 415", async () => {
    const a = await post(server.url, '{"jsonrpc":"2.0","id":1,"method":"ping"}', {
      ...session.headers,
      "content-type": "text/plain",
    });
    assert.equal(a.status, 415);
  });

  await session.close();
  await server.stop();
  assert.doesNotMatch(server.stderr(), /internal error|Uncaught/i);
});

Deno.test("loom run over stdio answers malformed JSON-RPC lines with the right codes and keeps serving", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream((req) =>
    Response.json({ word: new URL(req.url).searchParams.get("word") })
  );
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  const init = initializeRequest({ id: "init", protocolVersion: "2025-06-18", clientName: "r" });
  // Lines whose error must carry a null id (the id could not be read), and
  // lines whose error echoes their id, with the expected code.
  const nullId: [string, number][] = [
    ["{broken", -32700],
    ["[]", -32600],
    ['[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600],
    ['{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600],
    ['{"jsonrpc":"2.0","id":{},"method":"ping"}', -32600],
    ['{"jsonrpc":"2.0","id":1.5,"method":"ping"}', -32600],
    [JSON.stringify({ jsonrpc: "2.0", id: "z".repeat(300), method: "ping" }), -32600],
    ['"just a string"', -32600],
    ["x".repeat(4 * 1024 * 1024 + 10), -32600], // past the 4 MiB line limit
  ];
  const withId: [unknown, number][] = [
    [{ jsonrpc: "2.0", id: "m", method: 42 }, -32600],
    [{ jsonrpc: "2.0", id: "p", method: "ping", params: [] }, -32600],
    [{ jsonrpc: "1.0", id: "v", method: "ping" }, -32600],
    [{ jsonrpc: "2.0", id: "u", method: "no/such/method" }, -32601],
    [{ jsonrpc: "2.0", id: "n", method: "tools/call", params: { name: 7 } }, -32602],
  ];
  const good = {
    jsonrpc: "2.0",
    id: "good",
    method: "tools/call",
    params: { name: "echo", arguments: { word: "ok" } },
  };
  const lines = [
    JSON.stringify(init),
    JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    ...nullId.map(([line]) => line),
    ...withId.map(([msg]) => JSON.stringify(msg)),
    JSON.stringify(good),
  ];
  const res = await runLoom(["run", config], {
    home: join(dir.path, "home"),
    stdin: lines.join("\n") + "\n",
  });
  assert.equal(res.code, 0, res.stderr);
  const out = res.stdout.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
  assert.equal(out.length, 1 + nullId.length + withId.length + 1, res.stdout.slice(0, 2000));
  const nulls = out.filter((m) => m.id === null).map((m) => m.error.code).sort();
  assert.deepEqual(nulls, nullId.map(([, c]) => c).sort());
  for (const [msg, c] of withId) {
    const id = (msg as { id: string }).id;
    assert.equal(out.find((m) => m.id === id)?.error?.code, c, id);
  }
  const answer = out.find((m) => m.id === "good");
  assert.deepEqual(JSON.parse(resultText(answer.result)), { word: "ok" });
  assert.doesNotMatch(res.stderr, /internal error|Uncaught/i);
});
