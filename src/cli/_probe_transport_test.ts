import assert from "node:assert/strict";
import { MAX_ANSWER_BYTES, sseEvents } from "./_probe_transport.ts";

function stream(...chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => enc.encode(c)));
}

async function collect(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const data of sseEvents(body, "test")) out.push(data);
  return out;
}

Deno.test("sseEvents() joins data lines, accepts CRLF and split chunks, skips comments and other fields", async () => {
  const events = await collect(stream(
    ': comment\r\nevent: message\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n',
    'data:{"b"',
    ":2}\r",
    "\n\r\ndata: unfinished",
  ));
  // The last event has no blank line: the stream ended in its middle.
  assert.deepEqual(events, ['{"a":\n1}', '{"b":2}']);
});

Deno.test("sseEvents() stops reading past the answer size cap", async () => {
  const big = "data: " + "x".repeat(1024 * 1024) + "\n";
  const chunks = Array.from({ length: MAX_ANSWER_BYTES / (1024 * 1024) + 1 }, () => big);
  await assert.rejects(collect(stream(...chunks)), /sent an answer over 4 MiB/);
});
