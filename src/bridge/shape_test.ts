import assert from "node:assert/strict";
import { UpstreamError } from "../errors.ts";
import type { BridgeResponse } from "./execute.ts";
import { shapeResponse, UpstreamStatusError } from "./shape.ts";
import { makeBridge } from "./_testing.ts";

function response(bodyText: string, extra: Partial<BridgeResponse> = {}): BridgeResponse {
  return {
    status: 200,
    contentType: "application/json",
    bodyText,
    bytes: bodyText.length,
    redirects: 0,
    url: "http://127.0.0.1:8080/api",
    ...extra,
  };
}

const PLAIN = makeBridge("http://127.0.0.1:8080/api");
const withPath = (responsePath: string) =>
  makeBridge("http://127.0.0.1:8080/api", { responsePath });

Deno.test("shapeResponse() turns an error status into UPSTREAM_FAILED naming the status only", () => {
  const body = '{"error":"no such user"}\n\tline two' + "x".repeat(500);
  assert.throws(
    () => shapeResponse(response(body, { status: 404 }), PLAIN),
    (e: unknown) => {
      assert.ok(e instanceof UpstreamStatusError);
      assert.ok(e instanceof UpstreamError);
      assert.equal(e.code, "UPSTREAM_FAILED");
      assert.equal(e.message, "Upstream answered 404 Not Found");
      assert.equal(e.status, 404);
      assert.ok(e.detail.length <= 200);
      assert.ok(e.detail.startsWith('{"error":"no such user"} line two'));
      assert.doesNotMatch(e.detail, /[\n\t]/);
      return true;
    },
  );
  assert.throws(
    () => shapeResponse(response("boom", { status: 500 }), PLAIN),
    { message: "Upstream answered 500 Internal Server Error" },
  );
  assert.throws(() => shapeResponse(response("", { status: 418 }), PLAIN), {
    message: "Upstream answered 418",
  });
});

Deno.test("shapeResponse() refuses invalid JSON when a response_path is set", () => {
  for (const contentType of ["text/plain", "application/json", ""]) {
    assert.throws(
      () => shapeResponse(response("{not json", { contentType }), withPath("data")),
      (e: unknown) =>
        e instanceof UpstreamError && e.code === "UPSTREAM_FAILED" &&
        e.message === "Upstream sent invalid JSON",
    );
  }
});

Deno.test("shapeResponse() refuses invalid JSON when the content type says JSON", () => {
  for (
    const contentType of [
      "application/json; charset=utf-8",
      "application/problem+json",
      "text/json",
    ]
  ) {
    assert.throws(
      () => shapeResponse(response("<html>", { contentType }), PLAIN),
      { message: "Upstream sent invalid JSON" },
    );
  }
});

Deno.test("shapeResponse() refuses a missing response_path, prototype keys included", () => {
  const body = JSON.stringify({ data: { items: [1, 2] } });
  for (
    const path of [
      "data.result",
      "data.items.2",
      "data.items.x",
      "data.items.-1",
      "data.__proto__",
      "data.constructor",
      "data.items.01",
    ]
  ) {
    assert.throws(
      () => shapeResponse(response(body), withPath(path)),
      (e: unknown) =>
        e instanceof UpstreamError && e.code === "UPSTREAM_FAILED" &&
        e.message === `Response has no "${path}"`,
      path,
    );
  }
  assert.throws(() => shapeResponse(response("  "), withPath("data")), {
    message: "Upstream sent an empty response",
  });
});

Deno.test("shapeResponse() follows a dotted response_path, numeric segments indexing arrays", () => {
  const body = JSON.stringify({
    status: "success",
    data: { result: [{ metric: { job: "api" }, value: [1, "3"] }], "0": "key zero" },
  });
  assert.deepEqual(shapeResponse(response(body), withPath("data.result.0.metric")), {
    text: '{"job":"api"}',
    structured: { job: "api" },
  });
  assert.deepEqual(shapeResponse(response(body), withPath("data.result.0.value.1")), {
    text: '"3"',
    structured: "3",
  });
  assert.deepEqual(shapeResponse(response(body), withPath("data.0")), {
    text: '"key zero"',
    structured: "key zero",
  });
  assert.deepEqual(
    shapeResponse(response(body, { contentType: "text/plain" }), withPath("status")),
    { text: '"success"', structured: "success" },
  );
});

Deno.test("shapeResponse() returns a whole JSON body as text and structured value", () => {
  assert.deepEqual(shapeResponse(response('{ "a" : [1, null] }'), PLAIN), {
    text: '{"a":[1,null]}',
    structured: { a: [1, null] },
  });
  assert.deepEqual(shapeResponse(response("", { status: 204 }), PLAIN), { text: "" });
});

Deno.test("shapeResponse() returns other content as is", () => {
  assert.deepEqual(
    shapeResponse(response("# metrics\nup 1\n", { contentType: "text/plain" }), PLAIN),
    { text: "# metrics\nup 1\n" },
  );
  assert.deepEqual(shapeResponse(response("{not json", { contentType: "" }), PLAIN), {
    text: "{not json",
  });
});
