import assert from "node:assert/strict";
import {
  type CallToolResult,
  LATEST_PROTOCOL_VERSION,
  McpEngine,
  type ToolHost,
} from "./engine.ts";
import { serveStdio } from "./stdio.ts";
import { initializeRequest } from "../../tests/_helpers.ts";

/** A host whose one tool asks the client for a name and greets it. */
const ASKING: ToolHost = {
  listTools: () => [{ name: "greet", description: "Greet someone", inputSchema: {} }],
  async callTool(_name, _args, ctx): Promise<CallToolResult> {
    try {
      const answer = await ctx.request!("elicitation/create", { message: "Your name?" });
      const content = answer.content as { name?: string } | undefined;
      return { content: [{ type: "text", text: `Hello, ${content?.name}` }] };
    } catch (error) {
      return { content: [{ type: "text", text: (error as Error).message }], isError: true };
    }
  },
};

const enc = new TextEncoder();

/** Drive serveStdio over in-memory streams, answering each server request with `reply`. */
async function talk(
  capabilities: Record<string, unknown>,
  reply: (request: { id: string; method: string }) => Record<string, unknown> | null,
): Promise<Record<string, unknown>[]> {
  const engine = new McpEngine(ASKING, { name: "t", version: "1" });
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const output = new TransformStream<Uint8Array, Uint8Array>();
  const served = serveStdio(engine, { input: input.readable, output: output.writable });
  const writer = input.writable.getWriter();
  const send = (m: unknown) => writer.write(enc.encode(JSON.stringify(m) + "\n"));
  await send(initializeRequest({ protocolVersion: LATEST_PROTOCOL_VERSION, capabilities }));
  await send({ jsonrpc: "2.0", method: "notifications/initialized" });
  await send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "greet" } });
  const seen: Record<string, unknown>[] = [];
  const lines = output.readable.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (let turns = 0; turns < 20; turns++) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    let nl: number;
    let finished = false;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const message = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      seen.push(message);
      if (typeof message.method === "string" && "id" in message) {
        const answer = reply(message);
        if (answer !== null) await send({ jsonrpc: "2.0", id: message.id, ...answer });
      }
      if (message.id === 2) finished = true;
    }
    if (finished) break;
  }
  await writer.close();
  await served;
  await lines.cancel();
  return seen;
}

Deno.test("serveStdio() carries a tool's request to the client and the client's answer back", async () => {
  const seen = await talk(
    { elicitation: {} },
    () => ({ result: { action: "accept", content: { name: "Ada" } } }),
  );
  const asked = seen.find((m) => m.method === "elicitation/create");
  assert.ok(asked, JSON.stringify(seen));
  assert.deepEqual(asked.params, { message: "Your name?" });
  const result = seen.find((m) => m.id === 2)!.result as CallToolResult;
  assert.deepEqual(result.content, [{ type: "text", text: "Hello, Ada" }]);
});

Deno.test("serveStdio() never sends a request whose capability the client did not declare", async () => {
  const seen = await talk({}, () => {
    throw new Error("no request may reach this client");
  });
  assert.ok(!seen.some((m) => m.method === "elicitation/create"));
  const result = seen.find((m) => m.id === 2)!.result as CallToolResult;
  assert.equal(result.isError, true);
  assert.match(result.content[0].text, /did not declare the "elicitation" capability/);
});
