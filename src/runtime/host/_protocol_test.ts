import assert from "node:assert/strict";
import { encodeLine, parseChildMessage, readLines } from "./_protocol.ts";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c));
}

async function collect(stream: ReadableStream<Uint8Array>, max?: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(stream, max)) lines.push(line);
  return lines;
}

Deno.test("readLines() refuses a line longer than the limit", async () => {
  await assert.rejects(collect(streamOf(["0123456789"]), 8), RangeError);
  await assert.rejects(collect(streamOf(["01234", "56789\n"]), 8), RangeError);
  await assert.rejects(collect(streamOf(["0123", "4567", "89\nok\n"]), 8), RangeError);
  assert.deepEqual(await collect(streamOf(["01234567\n"]), 8), ["01234567"]);
});

Deno.test("readLines() splits lines across chunk boundaries and multi-byte characters", async () => {
  const bytes = new TextEncoder().encode("é€\n");
  assert.deepEqual(
    await collect(
      streamOf(["a", "b\nc", "\n\nd", bytes.subarray(0, 1), bytes.subarray(1), "tail"]),
    ),
    ["ab", "c", "", "dé€", "tail"],
  );
});

Deno.test("parseChildMessage() refuses malformed and out-of-protocol messages", () => {
  for (
    const line of [
      "not json",
      "[]",
      "null",
      '{"id":-1,"ok":true,"result":null}',
      '{"id":1.5,"ok":true,"result":null}',
      '{"id":1,"ok":"yes","result":null}',
      '{"id":1,"ok":false,"code":"MADE_UP","message":"x"}',
      '{"id":1,"ok":false,"code":"INTERNAL"}',
      '{"id":1,"ok":true,"result":{"text":1}}',
      '{"id":1,"ok":true,"result":{"text":"","status":200,"bytes":0,"url":"u","method":"BREW","redirects":0,"secretNames":[]}}',
      '{"op":"lookup","lid":1,"host":' + JSON.stringify("a".repeat(300)) + "}",
      '{"op":"lookup","lid":"1","host":"a"}',
      '{"op":"exec","cmd":"sh"}',
    ]
  ) assert.equal(parseChildMessage(line), null, line);
});

Deno.test("parseChildMessage() accepts results, errors and lookups, cutting long messages", () => {
  const result = {
    text: "{}",
    status: 200,
    bytes: 2,
    url: "http://127.0.0.1:1/",
    method: "GET",
    redirects: 0,
    secretNames: [],
    structured: {},
  };
  assert.deepEqual(parseChildMessage(JSON.stringify({ id: 3, ok: true, result })), {
    id: 3,
    ok: true,
    result,
  });
  const error = parseChildMessage(
    JSON.stringify({ id: 4, ok: false, code: "UPSTREAM_FAILED", message: "x".repeat(5000) }),
  );
  assert.ok(error && "ok" in error && !error.ok && error.message.length === 2000);
  assert.deepEqual(parseChildMessage('{"op":"lookup","lid":2,"host":"api.example.com"}'), {
    op: "lookup",
    lid: 2,
    host: "api.example.com",
  });
  assert.equal(
    new TextDecoder().decode(encodeLine({ op: "cancel", id: 1 })),
    '{"op":"cancel","id":1}\n',
  );
});
