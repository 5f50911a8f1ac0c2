import assert from "node:assert/strict";
import { UpstreamError } from "../../errors.ts";
import type { BridgeResponse } from "./execute.ts";
import { EXCERPT_MAX, shapeResponse, UpstreamStatusError } from "./shape.ts";
import { makeBridge } from "../_testing.ts";

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

function statusError(body: string, status: number, contentType: string): UpstreamStatusError {
  try {
    shapeResponse(response(body, { status, contentType }), PLAIN);
  } catch (e) {
    assert.ok(e instanceof UpstreamStatusError);
    assert.ok(e instanceof UpstreamError);
    assert.equal(e.code, "UPSTREAM_FAILED");
    assert.equal(e.status, status);
    return e;
  }
  assert.fail("no error thrown");
}

Deno.test("shapeResponse() shows the error field of a Prometheus 400 after the status", () => {
  const body = JSON.stringify({
    status: "error",
    errorType: "bad_data",
    error: "parse error: unclosed left parenthesis",
  });
  const e = statusError(body, 400, "application/json");
  assert.equal(
    e.message,
    "Upstream answered 400 Bad Request: parse error: unclosed left parenthesis",
  );
  assert.equal(e.statusLine, "Upstream answered 400 Bad Request");
  assert.equal(e.excerpt, "parse error: unclosed left parenthesis");
});

Deno.test("shapeResponse() joins the string JSON error fields of an error status in order", () => {
  const cases: [unknown, string][] = [
    [{ error: "invalid_grant", error_description: "Code expired" }, "invalid_grant; Code expired"],
    [
      { title: "Bad Request", detail: "id must be a number", status: 400 },
      "id must be a number; Bad Request",
    ],
    [{ errors: [{ message: "Field 'x' unknown" }, { message: "second" }] }, "Field 'x' unknown"],
    [{ error: { code: 400, message: "Quota exceeded" } }, "Quota exceeded"],
    [{ message: "m", error: 42, detail: ["not", "a string"] }, "m"],
  ];
  for (const [body, excerpt] of cases) {
    const e = statusError(JSON.stringify(body), 422, "application/problem+json");
    assert.equal(e.message, `Upstream answered 422 Unprocessable Content: ${excerpt}`);
  }
  // No error field: the JSON text itself.
  assert.equal(
    statusError('{"code":7}', 404, "application/json").message,
    'Upstream answered 404 Not Found: {"code":7}',
  );
});

Deno.test("shapeResponse() shows a text/plain 500 body on one line", () => {
  const e = statusError("internal trace\n\tat line 3\r\n", 500, "text/plain; charset=utf-8");
  assert.equal(e.message, "Upstream answered 500 Internal Server Error: internal trace at line 3");
});

Deno.test("shapeResponse() strips the tags of an HTML 502 and names other types only", () => {
  const html = "<html><head><title>502 Bad Gateway</title><style>p{}</style></head>" +
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
  const e = statusError(html, 502, "text/html");
  assert.equal(
    e.message,
    "Upstream answered 502 Bad Gateway: 502 Bad Gateway 502 Bad Gateway nginx",
  );
  assert.doesNotMatch(e.message, /[<>]/);
  assert.equal(
    statusError("\x89PNG\r\n", 500, "image/png").message,
    "Upstream answered 500 Internal Server Error: (image/png body)",
  );
  assert.equal(statusError("", 418, "text/plain").message, "Upstream answered 418");
  assert.equal(
    statusError("  \n ", 503, "text/plain").message,
    "Upstream answered 503 Service Unavailable",
  );
});

Deno.test("shapeResponse() cuts a huge error body with an ellipsis", () => {
  for (const contentType of ["text/plain", "application/json"]) {
    const body = contentType === "text/plain"
      ? "y".repeat(5_000_000)
      : JSON.stringify({ error: "z".repeat(100_000) });
    const e = statusError(body, 500, contentType);
    assert.equal(e.excerpt.length, EXCERPT_MAX);
    assert.ok(e.excerpt.endsWith("\u2026"));
    assert.ok(e.message.length <= 300);
    assert.ok(e.detail.length <= 1000);
  }
});

Deno.test("shapeResponse() escapes control, ANSI, bidi and zero-width characters of an error body", () => {
  const body = "bad\x1b[2K\rforged\x00\x07\x7f\x9b31m \u202eevil\u2066 zero\u200bwidth\u2028next";
  const e = statusError(body, 400, "text/plain");
  assert.equal(
    e.excerpt,
    "bad\\x1b[2K forged\\x00\\x07\\x7f\\x9b31m \\u202eevil\\u2066 zero\\u200bwidth next",
  );
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(e.message, /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/);
  // The same rules hold for text that arrives from the agent process.
  const again = new UpstreamStatusError(400, "a\x1b]8;;x\x07b\n" + "c".repeat(2000));
  assert.ok(again.message.startsWith("Upstream answered 400 Bad Request: a\\x1b]8;;x\\x07b c"));
  assert.ok(again.detail.length <= 1000);
  assert.equal(new UpstreamStatusError(400, again.detail).detail, again.detail, "idempotent");
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
