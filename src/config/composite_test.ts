/**
 * Load-time rules of composite tools: tier, step references, cycles,
 * recursion, placeholders, a bridge for a composite.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { parseConfig } from "./mod.ts";

function yaml(steps: string, tier = 3, extra = ""): string {
  return `agent:
  name: c
  exposes:
    - name: a
      description: A
    - name: combo
      description: Combo
      steps:
${steps}
    - name: other
      description: Other
      steps:
        - { id: x, tool: a }
  http_bridge:
    - { tool_name: a, url: "http://127.0.0.1:9/a" }
${extra}  runtime:
    trust_tier: ${tier}
`;
}

function problems(text: string): string {
  try {
    parseConfig(text, { path: "c.yaml" });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  throw new assert.AssertionError({ message: "expected a ConfigError" });
}

Deno.test("composite config: a composite below tier 3 is refused at its position", () => {
  const message = problems(yaml("        - { id: s, tool: a }", 2));
  assert.match(
    message,
    /c\.yaml:8:7: agent\.exposes\[1\]\.steps: Composite tool "combo" needs runtime\.trust_tier 3/,
  );
});

Deno.test("composite config: unknown step ids and cycles are refused", () => {
  const message = problems(
    yaml(`        - { id: s1, tool: a, arguments: { q: "{{steps.s2.text}}" } }
        - { id: s2, tool: a, arguments: { q: "{{steps.s1.text}}" } }
        - { id: s3, tool: a, arguments: { q: "{{steps.nope.text}}" } }`),
  );
  assert.match(
    message,
    /c\.yaml:10:41: agent\.exposes\[1\]\.steps\[1\]\.arguments: Steps wait for each other in a cycle: s1 -> s2 -> s1/,
  );
  assert.match(message, /Placeholder \{\{steps\.nope\.text\}\} names no step/);
});

Deno.test("composite config: no call of itself or of another composite, no bridge, no unknown argument", () => {
  const message = problems(yaml(
    `        - { id: s1, tool: combo }
        - { id: s2, tool: other }
        - { id: s3, tool: a, arguments: { q: "{{missing}}" } }`,
    3,
    `    - { tool_name: combo, url: "http://127.0.0.1:9/c" }\n`,
  ));
  assert.match(message, /Step calls its own composite "combo"/);
  assert.match(message, /Step calls composite tool "other": a composite may not call another/);
  assert.match(message, /Placeholder \{\{missing\}\} names no argument of "combo"/);
  assert.match(message, /Tool "combo" is a composite \(it has steps\): it takes no bridge/);
});

Deno.test("composite config: a valid composite resolves with its steps' order", () => {
  const config = parseConfig(
    yaml(`        - { id: s1, tool: a, timeout: 2s }
        - { id: s2, tool: a, arguments: { q: "{{steps.s1.text}}" } }`),
    { path: "c.yaml" },
  );
  const combo = config.tools.find((t) => t.name === "combo")!;
  assert.deepEqual(combo.composite?.steps.map((s) => [s.id, s.timeoutMs, s.after]), [
    ["s1", 2000, []],
    ["s2", null, ["s1"]],
  ]);
  assert.equal(combo.composite?.llm, null);
});
