import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import type { ConfigIssue } from "../../errors.ts";
import type { ParamSpec } from "../../config/mod.ts";
import { INLINE_BUDGET, patternCost } from "../../_util/regex_cost.ts";
import { isInline } from "./_pattern.ts";

const L = 10_000;

Deno.test("isInline() classifies the patterns of the example and test configs inline", async () => {
  const patterns = new Set([
    "[a-z0-9-]{1,32}",
    "[a-z0-9-]{1,64}",
    "[A-Za-z ]{1,40}",
    "^[a-z ]+$",
    "^[0-9.]+$",
    "^[a-z]+$",
    "[a-z]+",
    "a|b",
    "[a-z0-9-]+/[a-z0-9-]+",
  ]);
  let fromExamples = 0;
  for await (const entry of Deno.readDir(new URL("../../../examples/", import.meta.url))) {
    if (!entry.name.endsWith(".yaml")) continue;
    const text = await Deno.readTextFile(
      new URL(`../../../examples/${entry.name}`, import.meta.url),
    );
    for (const m of text.matchAll(/pattern: "((?:[^"\\]|\\.)*)"/g)) {
      patterns.add(JSON.parse(`"${m[1]}"`));
      fromExamples++;
    }
  }
  assert.ok(fromExamples >= 4);
  for (const pattern of patterns) {
    const spec: ParamSpec = { type: "string", required: true, allow: [], pattern };
    assert.equal(isInline(spec), true, pattern);
    assert.ok(patternCost(pattern, L) <= INLINE_BUDGET / 10, pattern);
  }
});

function warnings(pattern: string, extra = ""): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  parseConfig(
    `agent:
  name: p
  exposes:
    - name: t
      description: T
      parameters:
        id: { type: string, pattern: ${JSON.stringify(pattern)}${extra} }
  http_bridge:
    - tool_name: t
      url: "http://127.0.0.1:1/t"
      query_params: { id: id }
`,
    { path: "c.yaml", onWarning: (w) => out.push(w) },
  );
  return out.filter((w) => w.path.endsWith("pattern"));
}

Deno.test("parseConfig() warns, at the pattern's line and column, about a pattern that is not inline-safe", () => {
  const [w, ...rest] = warnings("(a+)+");
  assert.equal(rest.length, 0);
  assert.equal(w.file, "c.yaml");
  assert.equal(w.line, 7);
  assert.ok(w.column > 0);
  assert.match(w.message, /checked off the event loop/);
  assert.match(w.message, /within 100 ms/);
  assert.match(w.message, /bound repetitions/);
  assert.deepEqual(warnings("[a-z0-9-]{1,32}"), []);
  assert.deepEqual(warnings("\\d+\\d+", ", max_length: 64"), []);
  assert.equal(warnings("\\d+\\d+\\d+").length, 1);
});
