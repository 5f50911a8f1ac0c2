import assert from "node:assert/strict";
import fc from "fast-check";
import { type BridgeSpec, parseConfig } from "../../config/mod.ts";
import { ConfigError, InputError, LoomError, PolicyError } from "../../errors.ts";
import { checkUrlTemplate } from "../../_util/template.ts";
import { bridgeTarget, renderRequest } from "./render.ts";
import { runBridge } from "./mod.ts";
import { makeBridge, RUN, startUpstream } from "../_testing.ts";

const TRAVERSAL_VALUES = [
  "../admin",
  "%2e%2e/",
  "%2E%2E%2Fadmin",
  ".%2e/admin",
  "..\\admin",
  "..%2fadmin",
  "..%5Cadmin",
  "x?admin=1#",
  "a\tb\nc",
  "%00",
  "/",
  "",
  ".",
  "..",
  "..;",
  "..;x=1",
  "a\u0000b",
  "a\u007fb",
  "a\u0085b",
];

Deno.test("renderRequest() refuses path traversal values and the upstream receives nothing", async () => {
  await using up = startUpstream(() => Response.json({ ok: true }));
  const bridge = makeBridge(`${up.origin}/api/users/{{id}}/repos`);
  for (const id of TRAVERSAL_VALUES) {
    await assert.rejects(
      runBridge(bridge, { id }, { ...RUN, signal: AbortSignal.timeout(5000) }),
      (e: unknown) => {
        assert.ok(
          e instanceof InputError || e instanceof PolicyError,
          `value ${JSON.stringify(id)}`,
        );
        if (e instanceof InputError) assert.equal(e.field, "id");
        return true;
      },
      `value ${JSON.stringify(id)}`,
    );
  }
  assert.equal(up.received.length, 0);
});

Deno.test("renderRequest() refuses a template where a value beside literal dots could form a dot segment", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api/x/.{{v}}/y");
  assert.throws(() => renderRequest(bridge, { v: "." }), PolicyError);
  assert.throws(() => renderRequest(bridge, { v: "a" }), PolicyError);
});

Deno.test("renderRequest() refuses arrays and objects in a path segment", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api/{{id}}");
  assert.throws(() => renderRequest(bridge, { id: ["a"] }), InputError);
  assert.throws(() => renderRequest(bridge, { id: { a: 1 } }), InputError);
  assert.throws(() => renderRequest(bridge, {}), /must not be empty/);
});

Deno.test("renderRequest() refuses a lone surrogate in a path segment", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api/{{id}}");
  assert.throws(() => renderRequest(bridge, { id: "a\ud800" }), InputError);
});

Deno.test("renderRequest() percent-encodes a path parameter, sub-delimiters included", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api/users/{{id}}/repos");
  const req = renderRequest(bridge, { id: "ada lovelace!'()*@:;=&é" });
  assert.equal(
    req.url.pathname,
    "/api/users/ada%20lovelace%21%27%28%29%2A%40%3A%3B%3D%26%C3%A9/repos",
  );
  assert.equal(renderRequest(bridge, { id: 42 }).url.pathname, "/api/users/42/repos");
  assert.equal(renderRequest(bridge, { id: "..." }).url.pathname, "/api/users/.../repos");
});

Deno.test("renderRequest() keeps every accepted path value on the origin and prefix (property)", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api/users/{{id}}/repos");
  const target = bridgeTarget(bridge);
  const tricky = fc.string({
    unit: fc.constantFrom(
      ".",
      "/",
      "\\",
      "%",
      "2",
      "e",
      "E",
      "f",
      "F",
      "5",
      "c",
      "C",
      "?",
      "#",
      ";",
      "@",
      ":",
      "a",
      " ",
      "\t",
    ),
    maxLength: 12,
  });
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), tricky), (value) => {
      let url: URL;
      try {
        url = renderRequest(bridge, { id: value }).url;
      } catch (e) {
        assert.ok(e instanceof InputError || e instanceof PolicyError);
        return;
      }
      assert.equal(url.origin, target.origin);
      assert.ok(url.pathname.startsWith(target.pathPrefix));
      assert.ok(url.pathname.endsWith("/repos"));
      const segment = url.pathname.slice(target.pathPrefix.length, -"/repos".length);
      assert.doesNotMatch(segment, /%2e|%2f|%5c/i);
      assert.ok(!segment.includes("/"));
      assert.equal(decodeURIComponent(segment), value);
      assert.equal(url.search, "");
      assert.equal(url.hash, "");
    }),
    { numRuns: 2000 },
  );
});

Deno.test("renderRequest() refuses a template with a placeholder in the origin", async () => {
  await using up = startUpstream(() => new Response("ok"));
  for (const url of [`http://{{host}}/api`, `http://127.0.0.1:{{port}}/`, `{{base}}/api`]) {
    const bridge = makeBridge(url);
    await assert.rejects(
      runBridge(bridge, { host: "evil.com", port: up.port, base: up.origin }, {
        ...RUN,
        signal: AbortSignal.timeout(5000),
      }),
      PolicyError,
    );
  }
  assert.equal(up.received.length, 0);
});

Deno.test("renderRequest() refuses host and concatenation tricks in the first path position", () => {
  const bridge = makeBridge("http://127.0.0.1:8080{{p}}");
  for (const p of ["@evil.com/", ".evil.com/", ":443@evil.com/", "evil.com#", "evil.com/"]) {
    assert.throws(() => renderRequest(bridge, { p }), LoomError, p);
  }
});

Deno.test("renderRequest() refuses non-HTTP schemes and userinfo in the template", () => {
  for (
    const url of [
      "file:///etc/passwd",
      "ftp://127.0.0.1/x",
      "gopher://127.0.0.1/x",
      "ws://127.0.0.1/x",
      "data:text/plain,hi",
      "javascript:alert(1)",
      "http://user:pw@127.0.0.1/x",
    ]
  ) {
    assert.throws(() => renderRequest(makeBridge(url), {}), PolicyError, url);
  }
});

Deno.test("renderRequest() rejects CR, LF and NUL in a header value before anything is sent", async () => {
  await using up = startUpstream(() => new Response("ok"));
  const bridge = makeBridge(`${up.origin}/api`, { headers: { "X-Trace": "id={{trace}}" } });
  for (const trace of ["a\r\nX-Evil: 1", "a\nb", "a\0b", "a\rb", "a\u0001b", "a€b"]) {
    await assert.rejects(
      runBridge(bridge, { trace }, { ...RUN, signal: AbortSignal.timeout(5000) }),
      (e: unknown) => e instanceof InputError && e.field === "trace",
    );
  }
  assert.equal(up.received.length, 0);
});

Deno.test("renderRequest() rejects a header name that is not an RFC 9110 token", async () => {
  await using up = startUpstream(() => new Response("ok"));
  for (const name of ["X Evil", "X-Evil:", "X\r\nEvil", "", "Ä"]) {
    const bridge = makeBridge(`${up.origin}/api`, { headers: { [name]: "1" } });
    await assert.rejects(
      runBridge(bridge, {}, { ...RUN, signal: AbortSignal.timeout(5000) }),
      PolicyError,
    );
  }
  assert.equal(up.received.length, 0);
});

Deno.test("renderRequest() refuses a secret value that cannot be sent in a header", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api", {
    headers: { Authorization: "Bearer {{secret:tok}}" },
  });
  assert.throws(
    () => renderRequest(bridge, {}, { resolveSecret: () => "abc\r\nX-Evil: 1" }),
    (e: unknown) =>
      e instanceof PolicyError && e.message.includes('"tok"') && !e.message.includes("abc"),
  );
});

Deno.test("renderRequest() refuses a secret placeholder when no resolver is given", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api", {
    headers: { Authorization: "Bearer {{secret:prom-token}}" },
  });
  assert.throws(() => renderRequest(bridge, {}), {
    name: "PolicyError",
    message: 'Secret "prom-token" is not available',
  });
});

Deno.test("renderRequest() lets a throwing secret resolver refuse the call", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api", { headers: { X: "{{secret:k}}" } });
  const refusal = new PolicyError('Secret "k" is not granted to this agent');
  assert.throws(() =>
    renderRequest(bridge, {}, {
      resolveSecret: () => {
        throw refusal;
      },
    }), (e) => e === refusal);
});

Deno.test("renderRequest() keeps a {{secret:x}} argument literal and resolves only the config's own", async () => {
  await using up = startUpstream(() => new Response("ok"));
  const bridge = makeBridge(`${up.origin}/api/{{name}}`, {
    method: "POST",
    headers: { Authorization: "Bearer {{secret:tok}}", "X-Echo": "{{name}}" },
    queryParams: { name: "q" },
    bodyTemplate: { exact: "{{name}}", spliced: "n={{name}}" },
  });
  const asked: string[] = [];
  const result = await runBridge(bridge, { name: "{{secret:tok}}" }, {
    ...RUN,
    signal: AbortSignal.timeout(5000),
    resolveSecret: (key) => {
      asked.push(key);
      return "s3cr3t-value";
    },
  });
  assert.deepEqual(asked, ["tok"]);
  assert.deepEqual(result.secretNames, ["tok"]);
  const got = up.received[0];
  assert.equal(got.headers.get("authorization"), "Bearer s3cr3t-value");
  assert.equal(got.headers.get("x-echo"), "{{secret:tok}}");
  assert.equal(got.url.searchParams.get("q"), "{{secret:tok}}");
  assert.equal(decodeURIComponent(got.url.pathname), "/api/{{secret:tok}}");
  assert.deepEqual(JSON.parse(got.body), { exact: "{{secret:tok}}", spliced: "n={{secret:tok}}" });
  assert.ok(!got.body.includes("s3cr3t") && !got.url.href.includes("s3cr3t"));
});

Deno.test("renderRequest() form-encodes query params, repeats arrays and skips absent ones", async () => {
  await using up = startUpstream(() => new Response("ok"));
  const bridge = makeBridge(`${up.origin}/api/search?fixed=1`, {
    queryParams: { query: "q", tags: "tag", time: "t", limit: "n", exact: "e" },
  });
  await runBridge(bridge, {
    query: "a b&c=d#e",
    tags: ["x", "y z"],
    time: null,
    limit: 10,
    exact: true,
  }, {
    ...RUN,
    signal: AbortSignal.timeout(5000),
  });
  const got = up.received[0].url;
  assert.equal(got.search, "?fixed=1&q=a+b%26c%3Dd%23e&tag=x&tag=y+z&n=10&e=true");
  assert.equal(got.searchParams.get("q"), "a b&c=d#e");
  assert.deepEqual(got.searchParams.getAll("tag"), ["x", "y z"]);
  assert.equal(got.searchParams.has("t"), false);
});

Deno.test("renderRequest() refuses an object as a query param value", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api", { queryParams: { filter: "f" } });
  assert.throws(
    () => renderRequest(bridge, { filter: { a: 1 } }),
    (e) => e instanceof InputError && e.field === "filter",
  );
  assert.throws(() => renderRequest(bridge, { filter: [{ a: 1 }] }), InputError);
});

Deno.test("renderRequest() keeps the template's literal query before the query params", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api?format=json&x=1", {
    queryParams: { since: "since" },
  });
  const req = renderRequest(bridge, { since: "2024-01-01T00:00:00Z&admin=1" });
  assert.equal(req.url.searchParams.get("since"), "2024-01-01T00:00:00Z&admin=1");
  assert.equal(req.url.searchParams.get("x"), "1");
  assert.equal(req.url.searchParams.has("admin"), false);
  assert.equal(req.url.search, "?format=json&x=1&since=2024-01-01T00%3A00%3A00Z%26admin%3D1");
});
Deno.test("renderRequest() gives exact body placeholders their typed JSON value", async () => {
  await using up = startUpstream(() => new Response("ok"));
  const bridge = makeBridge(`${up.origin}/api/ask`, {
    method: "POST",
    bodyTemplate: {
      model: "llama",
      prompt: "Answer: {{question}} ({{limit}})",
      limit: "{{limit}}",
      ratio: "{{ ratio }}",
      tags: "{{tags}}",
      meta: "{{meta}}",
      optional: "{{missing}}",
      list: ["{{missing}}", "{{limit}}", "x-{{missing}}"],
      stream: false,
      n: 3,
      none: null,
    },
  });
  await runBridge(bridge, {
    question: "why?",
    limit: 5,
    ratio: 0.5,
    tags: ["a", "b"],
    meta: { deep: true },
  }, { ...RUN, signal: AbortSignal.timeout(5000) });
  const got = up.received[0];
  assert.equal(got.method, "POST");
  assert.equal(got.headers.get("content-type"), "application/json");
  const body = JSON.parse(got.body);
  assert.deepEqual({ ...body }, {
    model: "llama",
    prompt: "Answer: why? (5)",
    limit: 5,
    ratio: 0.5,
    tags: ["a", "b"],
    meta: { deep: true },
    list: [null, 5, "x-"],
    stream: false,
    n: 3,
    none: null,
  });
  assert.equal(Object.hasOwn(body, "optional"), false);
});

Deno.test("renderRequest() keeps a literal __proto__ body key an ordinary property", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api", {
    method: "POST",
    bodyTemplate: JSON.parse('{"__proto__":{"polluted":"{{v}}"}}'),
  });
  const req = renderRequest(bridge, { v: 5 });
  assert.equal(req.body, '{"__proto__":{"polluted":5}}');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("renderRequest() sets default accept and content-type unless configured", () => {
  const plain = renderRequest(makeBridge("http://127.0.0.1:8080/api"), {});
  assert.equal(plain.headers.get("accept"), "application/json, */*;q=0.5");
  assert.equal(plain.headers.has("content-type"), false);
  assert.equal(plain.body, null);
  const custom = renderRequest(
    makeBridge("http://127.0.0.1:8080/api", {
      method: "PUT",
      headers: { Accept: "text/plain", "Content-Type": "application/merge-patch+json" },
      bodyTemplate: { a: 1 },
    }),
    {},
  );
  assert.equal(custom.headers.get("accept"), "text/plain");
  assert.equal(custom.headers.get("content-type"), "application/merge-patch+json");
  assert.equal(custom.body, '{"a":1}');
});

Deno.test("renderRequest() returns fresh headers on every call", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api", { headers: { "X-A": "{{a}}" } });
  const one = renderRequest(bridge, { a: "1" });
  one.headers.set("x-a", "changed");
  assert.equal(renderRequest(bridge, { a: "2" }).headers.get("x-a"), "2");
});

Deno.test("renderRequest() parses a bridge's templates once per bridge object", () => {
  const bridge = makeBridge("http://127.0.0.1:8080/api/{{id}}");
  assert.equal(renderRequest(bridge, { id: "a" }).url.pathname, "/api/a");
  // The resolved config is immutable; the cache shows by ignoring an edit.
  (bridge as { url: string }).url = "http://127.0.0.1:8080/other/{{id}}";
  assert.equal(renderRequest(bridge, { id: "a" }).url.pathname, "/api/a");
});

Deno.test("bridgeTarget() is the target the template grammar derives, the loader's and the sandbox's", () => {
  for (
    const url of [
      "https://api.example.com/v1/users/{{id}}/repos",
      "http://[::1]:9090?q=1",
      "http://127.0.0.1:80/v1/items",
    ]
  ) {
    assert.deepEqual(bridgeTarget(makeBridge(url)), checkUrlTemplate(url).template?.target, url);
  }
  assert.equal(bridgeTarget(makeBridge("https://api.example.com/v1/{{id}}")).pathPrefix, "/v1/");
});
Deno.test("renderRequest() refuses a body on GET", () => {
  assert.throws(
    () => renderRequest(makeBridge("http://127.0.0.1:8080/api", { bodyTemplate: { a: 1 } }), {}),
    PolicyError,
  );
});

// --- one template grammar with the loader ---------------------------------------

/** A tier-2 config whose one bridge has `fields` (YAML lines under `http_bridge`). */
function configWith(fields: string): string {
  return [
    "agent:",
    "  name: grammar",
    "  exposes:",
    "    - name: test_tool",
    "      description: test tool",
    "      access: write",
    "      parameters: { id: { type: string } }",
    "  http_bridge:",
    "    - tool_name: test_tool",
    fields,
    "  runtime:",
    "    trust_tier: 2",
  ].join("\n");
}

Deno.test("renderRequest() refuses every bridge template the loader refuses, before anything is sent", () => {
  const cases: [yaml: string, bridge: Partial<BridgeSpec>][] = [
    ["url: https://api.example.com/x?since={{id}}", {
      url: "https://api.example.com/x?since={{id}}",
    }],
    ["url: https://api.example.com/x#{{id}}", { url: "https://api.example.com/x#{{id}}" }],
    ["url: https://api.example.com/x#top", { url: "https://api.example.com/x#top" }],
    ['url: "https://api.example.com/{{secret:k}}/{{id}}"', {
      url: "https://api.example.com/{{secret:k}}/{{id}}",
    }],
    ['url: "https://api.example.com/{{ bad name }}/{{id}}"', {
      url: "https://api.example.com/{{ bad name }}/{{id}}",
    }],
    ['url: "https://api.example.com/a}}/{{id}}"', { url: "https://api.example.com/a}}/{{id}}" }],
    ['url: "https://api.example.com/a\\\\{{id}}"', { url: "https://api.example.com/a\\{{id}}" }],
    ["url: https://api.example.com/../{{id}}", { url: "https://api.example.com/../{{id}}" }],
    ["url: https://api.example.com/a%2Fb/{{id}}", { url: "https://api.example.com/a%2Fb/{{id}}" }],
    ["url: https://api.example.com/.{{id}}", { url: "https://api.example.com/.{{id}}" }],
    ["url: https://api.example.com{{id}}", { url: "https://api.example.com{{id}}" }],
    [
      'url: https://api.example.com/{{id}}\n      headers: { X-Note: "caf\\u00e9 \\u2615" }',
      { url: "https://api.example.com/{{id}}", headers: { "X-Note": "caf\u00e9 \u2615" } },
    ],
    [
      'url: https://api.example.com/{{id}}\n      headers: { X-Note: "a\\u0001b" }',
      { url: "https://api.example.com/{{id}}", headers: { "X-Note": "a\u0001b" } },
    ],
    [
      'url: https://api.example.com/{{id}}\n      headers: { X-Note: "{{ id }} {{x y}}" }',
      { url: "https://api.example.com/{{id}}", headers: { "X-Note": "{{ id }} {{x y}}" } },
    ],
    [
      'url: https://api.example.com/{{id}}\n      method: POST\n      body_template: { "{{id}}": 1 }',
      { url: "https://api.example.com/{{id}}", method: "POST", bodyTemplate: { "{{id}}": 1 } },
    ],
    [
      'url: https://api.example.com/{{id}}\n      method: POST\n      body_template: { a: "{{id}" }',
      { url: "https://api.example.com/{{id}}", method: "POST", bodyTemplate: { a: "{{id}" } },
    ],
    [
      "url: https://api.example.com/{{id}}\n      method: POST\n      body_template: { a: .inf }",
      { url: "https://api.example.com/{{id}}", method: "POST", bodyTemplate: { a: Infinity } },
    ],
  ];
  for (const [yaml, fields] of cases) {
    assert.throws(
      () => parseConfig(configWith(`      ${yaml}`), { path: "g.yaml" }),
      ConfigError,
      yaml,
    );
    const bridge = makeBridge("https://api.example.com/{{id}}", fields);
    assert.throws(
      () => renderRequest(bridge, { id: "7" }, { resolveSecret: () => "s" }),
      (e: unknown) =>
        e instanceof PolicyError && e.message.startsWith('Cannot render bridge "test_tool": '),
      yaml,
    );
  }
});

Deno.test("renderRequest() renders the bridge templates the loader accepts", () => {
  const yaml = [
    '      url: "https://api.example.com/v1/items/{{ id }}/x-{{id}}.json?fixed=1"',
    "      method: POST",
    '      headers: { X-Api-Key: "{{secret:api-key}}", X-Note: "caf\\u00e9 {{id}}" }',
    '      body_template: { a: "{{id}}", b: "n={{id}}", c: [1, "{}", "{x}"] }',
  ].join("\n");
  const bridge = parseConfig(configWith(yaml), { path: "g.yaml" }).bridges[0];
  const req = renderRequest(bridge, { id: "7" }, { resolveSecret: () => "s" });
  assert.equal(req.url.href, "https://api.example.com/v1/items/7/x-7.json?fixed=1");
  assert.equal(req.headers.get("x-note"), "caf\u00e9 7");
  assert.equal(req.body, '{"a":"7","b":"n=7","c":[1,"{}","{x}"]}');
});
