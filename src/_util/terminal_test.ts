import assert from "node:assert/strict";
import fc from "fast-check";
import {
  escapeForTerminal,
  escapeLinesForTerminal,
  isTerminalSafe,
  jsonForTerminal,
} from "./terminal.ts";

/** Everything a terminal acts on, as one code point each. */
const UNSAFE = [
  ..."\x00\x07\b\t\n\v\f\r\x1b\x7f\x80\x85\x9b\x9f",
  ..."\u061c\u200b\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e",
  ..."\u2060\u2066\u2067\u2068\u2069\ufeff",
];
// deno-lint-ignore no-control-regex
const RAW = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** The reader's side: undo the escapes (to prove nothing is lost or ambiguous). */
function unescape(text: string): string {
  return text.replace(
    /\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|([nrt\\]))/g,
    (_, x, u, c) =>
      x !== undefined
        ? String.fromCharCode(parseInt(x, 16))
        : u !== undefined
        ? String.fromCharCode(parseInt(u, 16))
        : ({ n: "\n", r: "\r", t: "\t", "\\": "\\" } as Record<string, string>)[c],
  );
}

const hostile = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...UNSAFE, "\\", "x1b", "\ud800", "\udc00", "😀"),
    fc.string({ minLength: 1, maxLength: 1 }),
  ),
  maxLength: 60,
});

Deno.test("escapeForTerminal() leaves no control, bidi or separator character raw (property)", () => {
  fc.assert(
    fc.property(hostile, (text) => {
      const out = escapeForTerminal(text);
      assert.ok(!RAW.test(out), JSON.stringify(out));
      assert.ok(!/[\ud800-\udfff]/.test(out.replace(/[\ud800-\udbff][\udc00-\udfff]/g, "")));
      assert.equal(unescape(out), text, "escaping is reversible");
      assert.equal(isTerminalSafe(text), out === text.replaceAll("\\", "\\\\"));
    }),
    { numRuns: 300 },
  );
});

Deno.test("escapeForTerminal() writes ESC, CR, LF and bidi overrides as visible escapes", () => {
  assert.equal(
    escapeForTerminal("ok\x1b[2K\rforged\nline\u202eevil\\"),
    String.raw`ok\x1b[2K\rforged\nline\u202eevil\\`,
  );
  assert.equal(escapeForTerminal("plain text, é and 😀"), "plain text, é and 😀");
});

Deno.test("escapeLinesForTerminal() keeps line breaks and escapes the rest", () => {
  assert.equal(escapeLinesForTerminal("a\x1bb\nc\rd"), "a\\x1bb\nc\\rd");
});

Deno.test("jsonForTerminal() output parses back to the exact value and holds no raw control (property)", () => {
  fc.assert(
    fc.property(hostile, hostile, (key, value) => {
      const record = { [key]: value, nested: [value, { v: value }], n: 1 };
      const out = jsonForTerminal(record);
      assert.ok(!RAW.test(out), JSON.stringify(out));
      assert.deepEqual(JSON.parse(out), record);
    }),
    { numRuns: 300 },
  );
});
