import assert from "node:assert/strict";
import fc from "fast-check";
import { parseFastYaml, resolvePlain } from "./_fast_yaml.ts";
import { parseYamlFull, type PathSegment } from "./_yaml.ts";
import { starterConfig } from "./init_template.ts";
import { VALID_CONFIG } from "./_testing.ts";

/** Every path of a plain value, plus a missing child of each collection. */
function paths(value: unknown, prefix: PathSegment[] = []): PathSegment[][] {
  const out: PathSegment[][] = [prefix];
  if (Array.isArray(value)) {
    value.forEach((item, i) => out.push(...paths(item, [...prefix, i])));
    out.push([...prefix, value.length]);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) out.push(...paths(item, [...prefix, key]));
    out.push([...prefix, "missing-key"]);
  }
  return out;
}

/**
 * When the fast path accepts a text, the `yaml` package must accept it too,
 * with the same value and the same position for every path and key.
 * Returns whether the fast path accepted it.
 */
function agrees(text: string): boolean {
  const fast = parseFastYaml(text);
  if (!fast) return false;
  const full = parseYamlFull(text);
  assert.ok(full.ok, `fast path accepted a text the yaml package refuses: ${JSON.stringify(text)}`);
  assert.deepStrictEqual(fast.data, full.data, JSON.stringify(text));
  for (const path of paths(full.data)) {
    for (const key of [false, true]) {
      assert.deepEqual(
        fast.source.locate(path, key),
        full.source.locate(path, key),
        `${JSON.stringify(text)} at ${JSON.stringify(path)} key=${key}`,
      );
    }
  }
  return true;
}

const CORPUS = [
  starterConfig("corpus-agent"),
  VALID_CONFIG,
  `# comment
agent:
  name: full   # trailing comment
  version: "2.1.0"
  exposes:
  - name: create_item
    description: 'It''s an item'
    access: write
    rate_limit: { per_minute: 5 }
    parameters:
      title: { type: string, max_length: 80, allow: [sql, "shell"] }
      tags: { type: array, required: false, items: { type: string, enum: [a, b] } }
      meta:
        type: object
        properties:
          size: { type: integer, minimum: 1, maximum: 9, default: 3 }
  http_bridge:
    - tool_name: create_item
      method: POST
      url: "https://api.example.com/items"
      headers: { X-Api-Key: "{{secret:example-key}}", Accept: application/json }
      body_template: { title: "{{title}}", fixed: [1, true, null, 0x1F, .inf, 1e3, ~] }
      response_path: data.item
      timeout: 2s
  escalation_rules: []
  runtime:
    trust_tier: 2
    allow_networks: [10.0.0.0/8]
    empty:
`,
];

Deno.test("parseFastYaml() takes every config of the corpus and agrees with the yaml package", () => {
  for (const text of CORPUS) assert.ok(agrees(text), text.slice(0, 60));
});

Deno.test("parseFastYaml() resolves plain scalars as the YAML 1.2 core schema does", () => {
  const cases: [string, unknown][] = [
    ["", null],
    ["~", null],
    ["Null", null],
    ["TRUE", true],
    ["False", false],
    ["yes", "yes"],
    ["0o17", 15],
    ["017", 17],
    ["-0", -0],
    ["0x1F", 31],
    [".inf", Infinity],
    ["-.Inf", -Infinity],
    [".NaN", NaN],
    ["1e3", 1000],
    ["1.", 1],
    [".5", 0.5],
    ["1_000", "1_000"],
    ["2001-12-14", "2001-12-14"],
  ];
  for (const [text, value] of cases) assert.deepStrictEqual(resolvePlain(text), value, text);
});

Deno.test("parseFastYaml() gives up on what it does not handle", () => {
  const outside = [
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "--- \na: 1\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a:\n\t- 1\n",
    "\uFEFFa: 1\n",
    "a: 1\na: 2\n",
    "1: x\n",
    "null: x\n",
    "__proto__: x\n",
    "<<: {a: 1}\n",
    "a: [1,\n  2]\n",
    "a: b\n  c\n",
    'a: "x\\ny"\n',
    "a: [1, 2, ]\n",
    "a: {b}\n",
    "? a\n: 1\n",
    "- a\n- b\n",
    "a: b: c\n",
    "a: -1\n",
    "a:\n  -\n",
    "a: \u{1F600}\n",
    "",
    "# only\n",
  ];
  for (const text of outside) assert.equal(parseFastYaml(text), undefined, JSON.stringify(text));
});

// --- differential property tests --------------------------------------------------

const SAFE_WORDS = [
  "a",
  "b",
  "name",
  "key with space",
  "x1",
  "2fa",
  "it's",
  "url",
  "http://x/y",
  "{{id}}",
  "{{secret:k}}",
  "ü",
  "\u200B",
  "a#b",
  "1",
  "0x1F",
  "1.0",
  ".inf",
  "~",
  "true",
  "yes",
  "2001-12-14",
  "a-b",
  "a_b",
  "A.B",
  "v1/items",
];
const TRICKY_WORDS = [
  "null",
  "-1",
  "a: b",
  "a #b",
  "#c",
  "- d",
  "[e]",
  "{f}",
  "'g'",
  '"h"',
  "",
  " lead",
  "trail ",
  ":",
  "a:b",
  "?q",
  "&anchor",
  "*alias",
  "!tag",
  "|",
  ">",
  "%",
  "@",
  "`",
  "__proto__",
  "<<",
  "a[0]",
  "a,b",
  "a]",
  "a}",
];
const word = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SAFE_WORDS) },
  { weight: 1, arbitrary: fc.constantFrom(...TRICKY_WORDS) },
);

type Doc = string | Doc[] | { [key: string]: Doc };

const doc: fc.Arbitrary<Doc> = fc.letrec<{ node: Doc }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    word,
    fc.array(tie("node"), { maxLength: 4 }),
    fc.dictionary(word, tie("node"), { maxKeys: 4 }),
  ),
})).node;

interface Style {
  indent: number;
  flow: boolean[];
  quote: number[];
  comments: boolean[];
}

const style: fc.Arbitrary<Style> = fc.record({
  indent: fc.integer({ min: 1, max: 4 }),
  flow: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  quote: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 8, maxLength: 8 }),
  comments: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
});

/** Render a value as YAML text, choosing styles from `s` (not necessarily valid YAML). */
function render(value: Doc, s: Style): string {
  let n = 0;
  const pick = <T>(list: T[]) => list[n++ % list.length];
  const scalar = (text: string): string => {
    switch (pick(s.quote)) {
      case 1:
        return `'${text.replaceAll("'", "''")}'`;
      case 2:
        return JSON.stringify(text);
      default:
        return text;
    }
  };
  const flow = (v: Doc): string => {
    if (typeof v === "string") return scalar(v);
    if (Array.isArray(v)) return `[${v.map(flow).join(", ")}]`;
    return `{ ${Object.entries(v).map(([k, x]) => `${scalar(k)}: ${flow(x)}`).join(", ")} }`;
  };
  const comment = () => (pick(s.comments) ? " # note" : "");
  const block = (v: Doc, depth: number): string[] => {
    const pad = " ".repeat(depth * s.indent);
    if (typeof v === "string") return [`${pad}${scalar(v)}${comment()}`];
    if (Array.isArray(v)) {
      if (v.length === 0 || pick(s.flow)) return [`${pad}${flow(v)}${comment()}`];
      return v.flatMap((item) => {
        if (typeof item === "string" || pick(s.flow)) return [`${pad}- ${flow(item)}${comment()}`];
        const inner = block(item, depth + 1);
        return [`${pad}-${comment()}`, ...inner];
      });
    }
    const entries = Object.entries(v);
    if (entries.length === 0 || (depth > 0 && pick(s.flow))) return [`${pad}${flow(v)}`];
    return entries.flatMap(([k, x]) => {
      if (typeof x === "string" || pick(s.flow)) {
        return [`${pad}${scalar(k)}: ${flow(x)}${comment()}`];
      }
      return [`${pad}${scalar(k)}:${comment()}`, ...block(x, depth + 1)];
    });
  };
  return block(value, 0).join("\n") + "\n";
}

Deno.test("parseFastYaml() agrees with the yaml package on generated documents", () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.dictionary(word, doc, { minKeys: 1, maxKeys: 5 }), style, (value, s) => {
      if (agrees(render(value, s))) accepted++;
    }),
    { numRuns: 1500 },
  );
  // The generator must exercise the fast path, not only its give-ups.
  assert.ok(accepted > 150, `only ${accepted} documents took the fast path`);
});

Deno.test("parseFastYaml() agrees with the yaml package on mutated configs", () => {
  const tokens = [
    " ",
    "  ",
    "\n",
    "- ",
    ": ",
    ":",
    "#",
    " #",
    "'",
    '"',
    "[",
    "]",
    "{",
    "}",
    ",",
    "~",
    "-",
    "1",
    ".5",
    "x",
    "\n  ",
    "\n    - ",
    "? ",
    "&a ",
    "*a",
    "!t ",
    "|",
    "''",
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...CORPUS),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...tokens), fc.boolean()), {
        minLength: 1,
        maxLength: 4,
      }),
      (seed, edits) => {
        let text = seed;
        for (const [at, token, remove] of edits) {
          const i = at % (text.length + 1);
          text = remove
            ? text.slice(0, i) + text.slice(i + token.length)
            : text.slice(0, i) + token + text.slice(i);
        }
        agrees(text);
      },
    ),
    { numRuns: 1500 },
  );
});
