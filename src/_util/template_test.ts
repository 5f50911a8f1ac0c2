import assert from "node:assert/strict";
import { hasPlaceholder, PARAM_NAME, parseTemplate, SECRET_NAME } from "./template.ts";

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

Deno.test("parseTemplate() leaves braces that are not a placeholder as text", () => {
  // The loader refuses text parts holding "{{" or "}}" as malformed; the
  // parser itself only splits.
  for (const text of ["{{a b}}", "{{id}", "{id}}", "{{ secret: x }}", "{{na!me}}", "{ {id} }"]) {
    assert.deepEqual(parseTemplate(text), [{ kind: "text", text }], text);
  }
});

Deno.test("parseTemplate() reads a placeholder name case-sensitively, secret: prefix included", () => {
  assert.deepEqual(parseTemplate("{{ID}}"), [{ kind: "param", name: "ID" }]);
  // `Secret:` is not the prefix: the colon makes it an invalid name, not text.
  assert.deepEqual(parseTemplate("{{Secret:x}}"), [{ kind: "text", text: "{{Secret:x}}" }]);
});

Deno.test("parseTemplate() parses only its input, so a substituted value stays literal", () => {
  // The bridge substitutes values after parsing; parsing the config's text once
  // is what keeps an argument holding "{{secret:x}}" from naming a secret.
  const parts = parseTemplate("/q/{{q}}");
  const rendered = parts.map((p) => p.kind === "text" ? p.text : "{{secret:api}}").join("");
  assert.equal(rendered, "/q/{{secret:api}}");
  assert.deepEqual(parts, [{ kind: "text", text: "/q/" }, { kind: "param", name: "q" }]);
});

Deno.test("parseTemplate() returns a long run of open braces as text", () => {
  // Bounded input, no timing: the point is that it returns at all, with the
  // text intact.
  const text = "{{".repeat(50_000) + "x";
  assert.deepEqual(parseTemplate(text), [{ kind: "text", text }]);
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
