import assert from "node:assert/strict";
import {
  forEachLine,
  LineSplitter,
  LineWriter,
  type ParentMessage,
  parseChildMessage,
} from "./protocol.ts";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c));
}

/** A byte stream (BYOB reads) handing out `chunks` one per pull. */
function byteStreamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (next === chunks.length) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      const bytes = encoder.encode(chunks[next++]);
      const view = controller.byobRequest?.view;
      if (view && view.byteLength >= bytes.byteLength) {
        new Uint8Array(view.buffer, view.byteOffset, bytes.byteLength).set(bytes);
        controller.byobRequest!.respond(bytes.byteLength);
      } else {
        controller.enqueue(bytes);
      }
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>, max?: number): Promise<string[]> {
  const lines: string[] = [];
  await forEachLine(stream, (line) => void lines.push(line), max);
  return lines;
}

Deno.test("forEachLine() refuses a line longer than the limit", async () => {
  await assert.rejects(collect(streamOf(["0123456789"]), 8), RangeError);
  await assert.rejects(collect(streamOf(["01234", "56789\n"]), 8), RangeError);
  await assert.rejects(collect(streamOf(["0123", "4567", "89\nok\n"]), 8), RangeError);
  await assert.rejects(collect(streamOf(["ok\n012345678\nok\n"]), 8), RangeError);
  await assert.rejects(collect(streamOf(["ok\n\n\n\n\n\n\n\n012345678\nok\n"]), 8), RangeError);
  assert.deepEqual(await collect(streamOf(["01234567\n"]), 8), ["01234567"]);
  assert.deepEqual(await collect(streamOf(["0123", "4567\n01234567\n0", "1234567\n"]), 8), [
    "01234567",
    "01234567",
    "01234567",
  ]);
});

Deno.test("forEachLine() splits lines across chunk boundaries and multi-byte characters", async () => {
  const bytes = new TextEncoder().encode("é€\n");
  assert.deepEqual(
    await collect(
      streamOf(["a", "b\nc", "\n\nd", bytes.subarray(0, 1), bytes.subarray(1), "tail"]),
    ),
    ["ab", "c", "", "dé€", "tail"],
  );
});

Deno.test("forEachLine() reads byte streams into one reused buffer, and stops when asked", async () => {
  assert.deepEqual(await collect(byteStreamOf(["one\ntw", "o\n", "three\nfour"])), [
    "one",
    "two",
    "three",
    "four",
  ]);
  const seen: string[] = [];
  await forEachLine(streamOf(["a\nb\nstop\nc\n", "d\n"]), (line) => {
    seen.push(line);
    return line !== "stop";
  });
  assert.deepEqual(seen, ["a", "b", "stop"]);
});

Deno.test("LineSplitter keeps no reference to a chunk after push()", () => {
  const splitter = new LineSplitter();
  const chunk = new TextEncoder().encode("x\nhel");
  assert.deepEqual(splitter.push(chunk), ["x"]);
  chunk.fill(0x21);
  assert.deepEqual(splitter.push(new TextEncoder().encode("lo\n")), ["hello"]);
  assert.equal(splitter.end(), null);
});

/** Let the current turn of the event loop end (its `setImmediate` callbacks run). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("LineWriter coalesces the messages of one turn into one write, in order", async () => {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  const writer = new LineWriter((bytes) => void writes.push(decoder.decode(bytes)));
  writer.send({ op: "cancel", id: 1 });
  await Promise.resolve(); // later microtasks of the same turn still join the write
  writer.send({ op: "cancel", id: 2 });
  assert.deepEqual(writes, []);
  await nextTurn();
  writer.send({ op: "cancel", id: 3 });
  writer.flush();
  assert.deepEqual(writes, [
    '{"op":"cancel","id":1}\n{"op":"cancel","id":2}\n',
    '{"op":"cancel","id":3}\n',
  ]);
});

Deno.test("LineWriter holds messages while a write is under way and stops at the first failure", async () => {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  let release = Promise.withResolvers<void>();
  let failures = 0;
  const writer = new LineWriter((bytes) => {
    writes.push(decoder.decode(bytes));
    return release.promise;
  }, () => failures++);
  const cancel = (id: number): ParentMessage => ({ op: "cancel", id });
  writer.send(cancel(1));
  await nextTurn();
  writer.send(cancel(2));
  writer.send(cancel(3));
  await nextTurn();
  assert.equal(writes.length, 1);
  release.resolve();
  release = Promise.withResolvers<void>();
  await nextTurn();
  assert.deepEqual(writes.slice(1), ['{"op":"cancel","id":2}\n{"op":"cancel","id":3}\n']);
  writer.send(cancel(4));
  release.reject(new Error("broken pipe"));
  await nextTurn();
  writer.send(cancel(5));
  writer.flush();
  await nextTurn();
  assert.equal(failures, 1);
  assert.equal(writes.length, 2);
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
});

Deno.test("parseChildMessage() accepts a head notice only with a call id and an HTTP status", () => {
  for (
    const line of [
      '{"op":"head","id":1}',
      '{"op":"head","id":"1","status":200}',
      '{"op":"head","id":-1,"status":200}',
      '{"op":"head","id":1,"status":99}',
      '{"op":"head","id":1,"status":1000}',
      '{"op":"head","id":1,"status":200.5}',
      '{"op":"head","id":1,"status":"200"}',
      '{"op":"progress","id":1,"status":200}',
      '{"op":"lookup","id":1,"ok":true,"result":null}',
    ]
  ) assert.equal(parseChildMessage(line), null, line);
  // Only the named fields are kept: nothing else of the child's reaches the parent.
  assert.deepEqual(
    parseChildMessage('{"op":"head","id":7,"status":503,"message":"' + "x".repeat(99) + '"}'),
    { op: "head", id: 7, status: 503 },
  );
});
