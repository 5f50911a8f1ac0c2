import assert from "node:assert/strict";
import {
  checkBodyTemplate,
  checkHeaderTemplate,
  checkUrlTemplate,
  hasPlaceholder,
  PARAM_NAME,
  parseTemplate,
  queryKeyProblem,
  SECRET_NAME,
} from "./template.ts";

Deno.test("parseTemplate() splits text, parameters and secrets in order", () => {
  assert.deepEqual(parseTemplate("/users/{{id}}?k={{secret:api}}"), [
    { kind: "text", text: "/users/" },
    { kind: "param", name: "id" },
    { kind: "text", text: "?k=" },
    { kind: "secret", name: "api" },
  ]);
});

Deno.test("parseTemplate() returns no parts for empty text and one part for plain text", () => {
  assert.deepEqual(parseTemplate(""), []);
  assert.deepEqual(parseTemplate("https://api.example.com/v1"), [
    { kind: "text", text: "https://api.example.com/v1" },
  ]);
});

Deno.test("parseTemplate() allows whitespace inside the braces", () => {
  assert.deepEqual(parseTemplate("{{ id }}"), [{ kind: "param", name: "id" }]);
  assert.deepEqual(parseTemplate("{{\tsecret:api-key\n}}"), [{ kind: "secret", name: "api-key" }]);
});

Deno.test("parseTemplate() reads adjacent placeholders without text between them", () => {
  assert.deepEqual(parseTemplate("{{a}}{{b}}{{secret:c}}"), [
    { kind: "param", name: "a" },
    { kind: "param", name: "b" },
    { kind: "secret", name: "c" },
  ]);
});

Deno.test("parseTemplate() accepts the longest names each kind allows", () => {
  const param = `p${"a".repeat(63)}`;
  const secret = `s${"a".repeat(127)}`;
  assert.deepEqual(parseTemplate(`{{${param}}}`), [{ kind: "param", name: param }]);
  assert.deepEqual(parseTemplate(`{{secret:${secret}}}`), [{ kind: "secret", name: secret }]);
});

Deno.test("parseTemplate() refuses an empty placeholder name with a SyntaxError", () => {
  assert.throws(() => parseTemplate("{{}}"), {
    name: "SyntaxError",
    message: 'Invalid parameter name "" in template',
  });
  assert.throws(() => parseTemplate("{{  }}"), SyntaxError);
  assert.throws(() => parseTemplate("{{secret:}}"), {
    name: "SyntaxError",
    message: 'Invalid secret name "" in template',
  });
});

Deno.test("parseTemplate() refuses a parameter name outside PARAM_NAME", () => {
  for (const name of ["1id", "user-id", "a.b", "-x", `p${"a".repeat(64)}`]) {
    assert.throws(() => parseTemplate(`/x/{{${name}}}`), {
      name: "SyntaxError",
      message: `Invalid parameter name "${name}" in template`,
    });
  }
});

Deno.test("parseTemplate() refuses a secret name outside SECRET_NAME", () => {
  for (const name of ["-key", ".key", "_key", `s${"a".repeat(128)}`]) {
    assert.throws(() => parseTemplate(`{{secret:${name}}}`), {
      name: "SyntaxError",
      message: `Invalid secret name "${name}" in template`,
    });
  }
});

Deno.test("parseTemplate() refuses braces that are not a placeholder as malformed", () => {
  for (
    const text of [
      "{{a b}}",
      "{{id}",
      "{id}}",
      "{{ secret: x }}",
      "{{na!me}}",
      "x}}",
      "{{Secret:x}}",
    ]
  ) {
    assert.throws(() => parseTemplate(text), {
      name: "SyntaxError",
      message: "Malformed placeholder in template",
    }, text);
  }
  assert.deepEqual(parseTemplate("{ {id} }"), [{ kind: "text", text: "{ {id} }" }]);
});

Deno.test("parseTemplate() reads a placeholder name case-sensitively", () => {
  assert.deepEqual(parseTemplate("{{ID}}"), [{ kind: "param", name: "ID" }]);
});

Deno.test("parseTemplate() parses only its input, so a substituted value stays literal", () => {
  // The bridge substitutes values after parsing; parsing the config's text once
  // is what keeps an argument holding "{{secret:x}}" from naming a secret.
  const parts = parseTemplate("/q/{{q}}");
  const rendered = parts.map((p) => p.kind === "text" ? p.text : "{{secret:api}}").join("");
  assert.equal(rendered, "/q/{{secret:api}}");
  assert.deepEqual(parts, [{ kind: "text", text: "/q/" }, { kind: "param", name: "q" }]);
});

Deno.test("parseTemplate() refuses a long run of open braces", () => {
  // Bounded input, no timing: the point is that it returns at all.
  assert.throws(() => parseTemplate("{{".repeat(50_000) + "x"), SyntaxError);
});

Deno.test("hasPlaceholder() is true for any {{...}} and false otherwise", () => {
  assert.equal(hasPlaceholder("/users/{{id}}"), true);
  assert.equal(hasPlaceholder("{{secret:api}}"), true);
  assert.equal(hasPlaceholder("{{}}"), true);
  assert.equal(hasPlaceholder("{{a b}}"), true);
  assert.equal(hasPlaceholder("plain"), false);
  assert.equal(hasPlaceholder(""), false);
  assert.equal(hasPlaceholder("{{id}"), false);
  assert.equal(hasPlaceholder("{id}}"), false);
  assert.equal(hasPlaceholder("{{a}b}}"), false);
});

Deno.test("PARAM_NAME and SECRET_NAME bound the names a placeholder may use", () => {
  assert.equal(PARAM_NAME.test("_a1"), true);
  assert.equal(PARAM_NAME.test("a-b"), false);
  assert.equal(PARAM_NAME.test(""), false);
  assert.equal(SECRET_NAME.test("api.key-2_x"), true);
  assert.equal(SECRET_NAME.test("_x"), false);
  assert.equal(SECRET_NAME.test(""), false);
});

Deno.test("checkUrlTemplate() derives the target: scheme, origin, host, explicit port, path prefix", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["https://API.Example.com/v1/users/{{id}}/repos", {
      scheme: "https",
      origin: "https://api.example.com",
      hostname: "api.example.com",
      port: 443,
      pathPrefix: "/v1/users/",
      pathIsLiteral: false,
    }],
    ["http://[::1]:9090?q=1", {
      scheme: "http",
      origin: "http://[::1]:9090",
      hostname: "[::1]",
      port: 9090,
      pathPrefix: "/",
      pathIsLiteral: true,
    }],
    ["http://127.0.0.1:80/v1/items", {
      scheme: "http",
      origin: "http://127.0.0.1",
      hostname: "127.0.0.1",
      port: 80,
      pathPrefix: "/v1/items",
      pathIsLiteral: true,
    }],
    ["https://xn--bcher-kva.example:8443/x-{{id}}.json", {
      scheme: "https",
      origin: "https://xn--bcher-kva.example:8443",
      hostname: "xn--bcher-kva.example",
      port: 8443,
      pathPrefix: "/x-",
      pathIsLiteral: false,
    }],
  ];
  for (const [url, target] of cases) {
    const checked = checkUrlTemplate(url);
    assert.deepEqual(checked.problems, [], url);
    assert.deepEqual(checked.template?.target, target, url);
  }
});

Deno.test("checkUrlTemplate() splits an accepted template into head, path segments and literal query", () => {
  const { template } = checkUrlTemplate("https://api.example.com/v1/{{ id }}/x-{{n}}?format=json");
  assert.equal(template?.head, "https://api.example.com");
  assert.deepEqual(template?.segments, [
    [],
    [{ kind: "text", text: "v1" }],
    [{ kind: "param", name: "id" }],
    [{ kind: "text", text: "x-" }, { kind: "param", name: "n" }],
  ]);
  assert.equal(template?.query, "format=json");
  assert.deepEqual(template?.pathParams, ["id", "n"]);
});

Deno.test("checkUrlTemplate() refuses every form outside the grammar, with no template", () => {
  const cases: [string, RegExp][] = [
    ["api.example.com/x", /^URL must be absolute/],
    ["ftp://api.example.com/x", /^URL scheme "ftp" is not allowed/],
    ["https://{{host}}/x", /^URL origin must be literal/],
    ["https://api.example.com{{p}}", /^URL origin must be literal/],
    ["https://user:pw@api.example.com/x", /userinfo/],
    ["https://api.example.com/a\\{{id}}", /backslash/],
    ["https://api.example.com/{{id}}#top", /fragment/],
    ["https://api.example.com/x?q={{id}}", /^Placeholders are not allowed in the URL query/],
    ["https://api.example.com/{{id}", /^Malformed placeholder/],
    ["https://api.example.com/{{secret:k}}", /^Secret placeholder is not allowed in the URL/],
    ["https://exa mple.com/{{id}}", /^URL is not valid$/],
    ["https://api.example.com/a/%2e./{{id}}", /"\." or "\.\." segments/],
    ["https://api.example.com/a%5Cb/{{id}}", /encoded slash or backslash/],
    ["https://api.example.com/{{a}}{{b}}", /is ambiguous/],
  ];
  for (const [url, message] of cases) {
    const checked = checkUrlTemplate(url);
    assert.equal(checked.template, undefined, url);
    assert.ok(checked.problems.some((p) => message.test(p)), `${url}: ${checked.problems}`);
  }
});

Deno.test("checkHeaderTemplate() refuses control characters, text above U+00FF and malformed placeholders", () => {
  assert.deepEqual(checkHeaderTemplate("Bearer {{secret:tok}} caf\u00e9\t1"), {
    problems: [],
    parts: [
      { kind: "text", text: "Bearer " },
      { kind: "secret", name: "tok" },
      { kind: "text", text: " caf\u00e9\t1" },
    ],
  });
  for (const value of ["a\r\nb", "a\0b", "a\u0001b", "a\u007fb", "\u2615"]) {
    assert.match(checkHeaderTemplate(value).problems[0], /CR, LF or NUL/, JSON.stringify(value));
  }
  assert.match(checkHeaderTemplate("{{a b}}").problems[0], /^Malformed placeholder/);
});

Deno.test("checkBodyTemplate() refuses template keys, non-finite numbers and malformed strings, by path", () => {
  const problems = checkBodyTemplate({ ok: ["{{id}}", 1], "{{k}}": 1, n: [NaN], s: "{{id}" });
  assert.deepEqual(problems.map((p) => [p.path, p.key]), [
    [["{{k}}"], true],
    [["n", 0], false],
    [["s"], false],
  ]);
});

Deno.test("queryKeyProblem() refuses a query key that looks like a template", () => {
  assert.equal(queryKeyProblem("page"), undefined);
  assert.match(queryKeyProblem("{{page}}")!, /^Query key must be literal/);
});
