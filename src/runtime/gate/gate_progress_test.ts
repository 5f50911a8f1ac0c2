/**
 * A call's progress and log messages reach the context of the call that made
 * it, in process (`sandbox: none`) and through the sandboxed agent host
 * (`sandbox: deno`): increasing progress with the moment the upstream's
 * headers arrived, the outcome logged at its level, and never a secret, an
 * argument or a URL in any of them.
 */
import assert from "node:assert/strict";
import type { LogLevel, ToolCallContext } from "../../mcp/mod.ts";
import { type SandboxMode, secretGate } from "./_testing.ts";
import { startUpstream } from "../../../tests/_helpers.ts";

const SECRET = "pr0gress-S3cret+with/slash=";
const ARG = "argument-value-7d1f";

/** What a call's context heard: progress reports and log messages, in order. */
interface Heard {
  progress: { progress: number; total?: number; message?: string }[];
  logs: { level: LogLevel; data: unknown }[];
}

/** A context that records what the gate reports; `progress` absent when `withProgress` is false. */
function listening(withProgress = true): { ctx: ToolCallContext; heard: Heard } {
  const heard: Heard = { progress: [], logs: [] };
  const ctx: ToolCallContext = {
    signal: new AbortController().signal,
    sessionId: null,
    client: null,
    log: (level, data) => heard.logs.push({ level, data }),
  };
  if (withProgress) {
    ctx.progress = (progress, total, message) => heard.progress.push({ progress, total, message });
  }
  return { ctx, heard };
}

async function setup(
  mode: SandboxMode,
  handler: (req: Request) => Response | Promise<Response>,
  runtime = "",
) {
  const server = await startUpstream(handler);
  const fixture = await secretGate(
    `agent:
  name: reporting
  exposes:
    - name: fetch_item
      description: Fetch an item
      parameters:
        q: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: fetch_item
      url: "${server.url}/items/{{q}}"
      query_params: { q: q }
      headers: { X-Api-Key: "{{secret:api-key}}" }
  runtime:
    sandbox: ${mode}
${runtime}`,
    "reporting.yaml",
    SECRET,
  );
  return {
    gate: fixture.gate,
    host: `127.0.0.1:${server.port}`,
    [Symbol.asyncDispose]: async () => {
      await fixture[Symbol.asyncDispose]();
      await server.close();
    },
  };
}

/** Wait (bounded, 10 s) until `ready()` holds; fails naming what never happened. */
async function until(what: string, ready: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ready(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(ready(), `${what} did not happen`);
}

/** Every text the context heard, as one string. */
function everything(heard: Heard): string {
  return JSON.stringify(heard);
}

for (const mode of ["none", "deno"] as const) {
  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) never puts a secret, an argument or the URL in progress or log messages`, async () => {
    // The upstream echoes the secret in a header, its body and its status text.
    await using s = await setup(
      mode,
      (req) =>
        new Response(`{"key":"${req.headers.get("x-api-key")}"}`, {
          status: new URL(req.url).pathname.endsWith("/bad") ? 502 : 200,
          headers: { "content-type": "application/json", "x-echo": SECRET },
        }),
    );
    for (const q of [ARG, "bad"]) {
      const { ctx, heard } = listening();
      const res = await s.gate.callTool("fetch_item", { q }, ctx);
      assert.equal(res.isError, q === "bad" ? true : undefined);
      const told = everything(heard);
      assert.ok(heard.logs.length >= 2 && heard.progress.length >= 2, told);
      for (const leak of [SECRET, encodeURIComponent(SECRET), ARG, "/items", "q=", "http:"]) {
        assert.ok(!told.includes(leak), `a message names ${JSON.stringify(leak)}`);
      }
    }
  });

  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) reports progress sent, headers received and body received, increasing`, async () => {
    await using s = await setup(mode, () => Response.json({ ok: true }));
    const { ctx, heard } = listening();
    const res = await s.gate.callTool("fetch_item", { q: "a" }, ctx);
    assert.equal(res.isError, undefined);
    assert.deepEqual(heard.progress, [
      { progress: 1, total: 3, message: "sent" },
      { progress: 2, total: 3, message: "headers received: 200" },
      { progress: 3, total: 3, message: "body received" },
    ]);
  });

  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) reports the headers of a held upstream before its body`, async () => {
    const release = Promise.withResolvers<void>();
    const encoder = new TextEncoder();
    await using s = await setup(mode, () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(encoder.encode('{"items":'));
            await release.promise;
            controller.enqueue(encoder.encode("[]}"));
            controller.close();
          },
        }),
        { headers: { "content-type": "application/json" } },
      ));
    const { ctx, heard } = listening();
    let settled = false;
    const call = s.gate.callTool("fetch_item", { q: "a" }, ctx).finally(() => (settled = true));
    try {
      await until("the headers progress", () => heard.progress.length >= 2);
      assert.deepEqual(heard.progress.map((p) => p.message), ["sent", "headers received: 200"]);
      assert.equal(settled, false, "the call waits for the body");
    } finally {
      release.resolve();
    }
    const res = await call;
    assert.equal(res.content[0].text, '{"items":[]}');
    assert.deepEqual(heard.progress.map((p) => p.progress), [1, 2, 3]);
  });

  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) logs the request at debug and the outcome at info or warning`, async () => {
    await using s = await setup(
      mode,
      (req) =>
        new URL(req.url).pathname.endsWith("/down")
          ? new Response("maintenance", { status: 503 })
          : Response.json({ ok: true }),
    );
    const ok = listening();
    await s.gate.callTool("fetch_item", { q: "a" }, ok.ctx);
    assert.deepEqual(ok.heard.logs.map((l) => l.level), ["debug", "info"]);
    assert.deepEqual(ok.heard.logs[0].data, {
      event: "upstream_request",
      tool: "fetch_item",
      method: "GET",
      host: s.host,
    });
    const info = ok.heard.logs[1].data as Record<string, unknown>;
    assert.equal(info.event, "upstream_response");
    assert.equal(info.status, 200);
    assert.equal(info.bytes, 11);
    assert.equal(typeof info.duration_ms, "number");

    const down = listening();
    const res = await s.gate.callTool("fetch_item", { q: "down" }, down.ctx);
    assert.equal(res.isError, true);
    assert.deepEqual(down.heard.logs.map((l) => l.level), ["debug", "warning"]);
    const warning = down.heard.logs[1].data as Record<string, unknown>;
    assert.equal(warning.event, "upstream_error");
    assert.equal(warning.status, 503);
    assert.equal(warning.code, "UPSTREAM_FAILED");
    assert.ok(!everything(down.heard).includes("maintenance"), "no upstream text");
  });

  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) logs a timeout at warning after the headers progress`, async () => {
    const release = Promise.withResolvers<void>();
    await using s = await setup(
      mode,
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async start(controller) {
              controller.enqueue(new TextEncoder().encode("["));
              await release.promise;
              controller.close();
            },
          }),
        ),
      "    max_execution_time: 300ms\n",
    );
    const { ctx, heard } = listening();
    try {
      const res = await s.gate.callTool("fetch_item", { q: "a" }, ctx);
      assert.equal(res.isError, true);
    } finally {
      release.resolve();
    }
    assert.deepEqual(heard.progress.map((p) => p.message), ["sent", "headers received: 200"]);
    const last = heard.logs.at(-1)!;
    assert.equal(last.level, "warning");
    assert.equal((last.data as Record<string, unknown>).code, "UPSTREAM_TIMEOUT");
  });

  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) without a progress callback still logs and answers`, async () => {
    await using s = await setup(mode, () => Response.json({ ok: true }));
    const { ctx, heard } = listening(false);
    const res = await s.gate.callTool("fetch_item", { q: "a" }, ctx);
    assert.equal(res.isError, undefined);
    assert.deepEqual(heard.progress, []);
    assert.deepEqual(heard.logs.map((l) => l.level), ["debug", "info"]);
  });
}
