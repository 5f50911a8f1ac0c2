import assert from "node:assert/strict";
import fc from "fast-check";
import { parse as parseYamlText, stringify } from "yaml";
import { ConfigError } from "../errors.ts";
import { starterConfig } from "./init_template.ts";
import { parseConfig } from "./load.ts";
import { FULL_CONFIG } from "./_testing.ts";

const SEEDS = [FULL_CONFIG, starterConfig("fuzz-agent")];

/** parseConfig() either returns a config or throws a ConfigError with positioned issues. */
function check(text: string): void {
  try {
    const config = parseConfig(text, { path: "fuzz.yaml", onWarning: () => {} });
    assert.ok(Object.isFrozen(config));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    assert.ok(error.issues.length > 0);
    for (const issue of error.issues) {
      assert.equal(issue.file, "fuzz.yaml");
      assert.ok(Number.isInteger(issue.line) && issue.line >= 0);
      assert.ok(Number.isInteger(issue.column) && issue.column >= 0);
      assert.ok(issue.message.length > 0);
    }
  }
}

const TOKENS = [
  "agent",
  "name",
  "exposes",
  "http_bridge",
  "runtime",
  "trust_tier",
  "parameters",
  "type",
  "items",
  "properties",
  "url",
  "headers",
  "body_template",
  "method",
  "escalation_rules",
  "tool_name",
  "description",
  "access",
  "write",
  "POST",
  "DELETE",
  "sandbox",
  "none",
  ":",
  ": ",
  "\n",
  "  ",
  "    ",
  "- ",
  "{",
  "}",
  "[",
  "]",
  ", ",
  "&a ",
  "*a",
  "!!binary ",
  "!x ",
  "{{id}}",
  "{{secret:k}}",
  "{{",
  "}}",
  "https://",
  "http://{{h}}/",
  "1",
  "-1",
  "0.5",
  ".inf",
  ".nan",
  "null",
  "~",
  "true",
  '"',
  "'",
  "\\",
  "---",
  "? ",
  "|\n",
  ">\n",
  "#",
  "\t",
  "__proto__",
  "constructor",
  "ghp_" + "x1".repeat(18),
  "\u200B",
  "<<",
  "1MiB",
  "30s",
];

const token = fc.constantFrom(...TOKENS);

Deno.test("parseConfig() throws only ConfigError on arbitrary text", () => {
  fc.assert(fc.property(fc.string({ maxLength: 400, unit: "binary" }), check), { numRuns: 200 });
});

Deno.test("parseConfig() throws only ConfigError on YAML-like token soup", () => {
  fc.assert(
    fc.property(fc.array(token, { maxLength: 120 }), (parts) => check(parts.join(""))),
    { numRuns: 500 },
  );
});

Deno.test("parseConfig() throws only ConfigError on text mutations of valid configs", () => {
  const mutation = fc.record({
    seed: fc.constantFrom(...SEEDS),
    edits: fc.array(
      fc.record({
        kind: fc.constantFrom("delete", "insert", "duplicate-line", "swap-lines", "dedent"),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: 12 }),
        token,
      }),
      { minLength: 1, maxLength: 6 },
    ),
  });
  fc.assert(
    fc.property(mutation, ({ seed, edits }) => {
      let text = seed;
      for (const edit of edits) {
        const at = edit.at % (text.length + 1);
        const lines = text.split("\n");
        const line = edit.at % lines.length;
        switch (edit.kind) {
          case "delete":
            text = text.slice(0, at) + text.slice(at + edit.length);
            break;
          case "insert":
            text = text.slice(0, at) + edit.token + text.slice(at);
            break;
          case "duplicate-line":
            lines.splice(line, 0, lines[line]);
            text = lines.join("\n");
            break;
          case "swap-lines": {
            const other = (line + edit.length) % lines.length;
            [lines[line], lines[other]] = [lines[other], lines[line]];
            text = lines.join("\n");
            break;
          }
          case "dedent":
            lines[line] = lines[line].replace(/^ {1,2}/, "");
            text = lines.join("\n");
            break;
        }
      }
      check(text);
    }),
    { numRuns: 1000 },
  );
});

/** Every path to a node of a plain value. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    value.forEach((item, i) => out.push(...paths(item, [...prefix, i])));
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) out.push(...paths(item, [...prefix, key]));
  }
  return out;
}

Deno.test("parseConfig() throws only ConfigError when any node of a valid config is replaced", () => {
  const seeds = SEEDS.map((text) => parseYamlText(text) as unknown);
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    token,
    fc.constantFrom(Infinity, -0, 1e308, "", [], {}, null),
  );
  fc.assert(
    fc.property(fc.nat(), fc.nat(), replacement, (seedIndex, pick, value) => {
      const doc = structuredClone(seeds[seedIndex % seeds.length]);
      const all = paths(doc).filter((p) => p.length > 0);
      const path = all[pick % all.length];
      let parent = doc as Record<string | number, unknown>;
      for (const segment of path.slice(0, -1)) {
        parent = parent[segment] as Record<string | number, unknown>;
      }
      parent[path[path.length - 1]] = value;
      check(stringify(doc));
    }),
    { numRuns: 1000 },
  );
});
