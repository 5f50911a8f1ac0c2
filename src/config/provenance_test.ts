/**
 * `agent.provenance`: who produced a config. Unknown sources, keys, long or
 * multi-line generator names are refused at their file:line:column; the
 * written forms resolve to one `{ source, generator }`, `human` when absent.
 */

import assert from "node:assert/strict";
import { parseConfig } from "./load.ts";
import { configJsonSchema } from "./schema.ts";
import { onlyIssue, refusedIssues } from "./_testing.ts";

/** A valid config with `provenance: <value>` on line 3 (absent for null). */
function withProvenance(value: string | null): string {
  return `agent:
  name: drafted
${value === null ? "" : `  provenance: ${value}\n`}  exposes:
    - name: ping
      description: Check the service
  http_bridge:
    - tool_name: ping
      url: https://api.example.com/ping
`;
}

const parse = (value: string | null) =>
  parseConfig(withProvenance(value), { path: "drafted.yaml" });

Deno.test("provenance: unknown sources, unknown keys, long or control-character generators are refused at file:line:column", () => {
  const cases: [string, number, string, RegExp][] = [
    ["ai_generated", 15, "agent.provenance", /Expected "human", "imported" or "ai-generated"/],
    ["machine", 15, "agent.provenance", /Expected "human", "imported" or "ai-generated"/],
    ["42", 15, "agent.provenance", /Expected "human", "imported" or "ai-generated"/],
    ["[ai-generated]", 15, "agent.provenance", /Expected "human"/],
    ["{ source: robot }", 25, "agent.provenance.source", /Expected one of "human"/],
    ["{ generator: x }", 15, "agent.provenance.source", /"ai-generated"/],
    ["{ source: ai-generated, model: x }", 39, "agent.provenance.model", /Unknown key "model"/],
    [
      `{ source: ai-generated, generator: "${"g".repeat(121)}" }`,
      50,
      "agent.provenance.generator",
      /at most 120 characters/,
    ],
    [
      '{ source: ai-generated, generator: "a\\u001bb" }',
      50,
      "agent.provenance.generator",
      /control characters/,
    ],
    ['{ source: ai-generated, generator: "" }', 50, "agent.provenance.generator", /empty/],
  ];
  for (const [value, column, path, message] of cases) {
    const issue = onlyIssue(refusedIssues(() => parse(value)));
    assert.equal(issue.file, "drafted.yaml", value);
    assert.equal(issue.line, 3, value);
    assert.equal(issue.column, column, value);
    assert.equal(issue.path, path, value);
    assert.match(issue.message, message, value);
  }
});

Deno.test("provenance: absent means human; a source or { source, generator } resolves to both fields", () => {
  assert.deepEqual(parse(null).provenance, { source: "human", generator: null });
  assert.deepEqual(parse("human").provenance, { source: "human", generator: null });
  assert.deepEqual(parse("imported").provenance, { source: "imported", generator: null });
  assert.deepEqual(parse("ai-generated").provenance, { source: "ai-generated", generator: null });
  assert.deepEqual(
    parse("{ source: ai-generated, generator: ollama/llama3.1 }").provenance,
    { source: "ai-generated", generator: "ollama/llama3.1" },
  );
  assert.deepEqual(
    parse(`{ source: ai-generated, generator: "${"g".repeat(120)}" }`).provenance.generator,
    "g".repeat(120),
  );
  assert.ok(Object.isFrozen(parse("ai-generated").provenance));
});

Deno.test("provenance: the JSON Schema offers both forms", () => {
  const agent = (configJsonSchema().properties as Record<string, { properties: object }>).agent;
  const provenance = (agent.properties as Record<string, { anyOf?: unknown[] }>).provenance;
  assert.equal(provenance.anyOf?.length, 2);
  assert.match(JSON.stringify(provenance), /"ai-generated"/);
  assert.match(JSON.stringify(provenance), /"generator"/);
});
