import assert from "node:assert/strict";
import type { ConfigIssue } from "../errors.ts";
import { starterConfig } from "./init_template.ts";
import { parseConfig } from "./load.ts";
import { configJsonSchema } from "./schema.ts";

Deno.test("starterConfig() refuses a name that is not kebab-case", () => {
  for (const name of ["", "Bad", "a_b", "-a", "a".repeat(65), "a\nb: x"]) {
    assert.throws(() => starterConfig(name), RangeError, name);
  }
});

Deno.test("starterConfig() loads cleanly through parseConfig without warnings", () => {
  const warnings: ConfigIssue[] = [];
  const config = parseConfig(starterConfig("weather-bridge"), {
    path: "weather-bridge.yaml",
    onWarning: (w) => warnings.push(w),
  });
  assert.deepEqual(warnings, []);
  assert.equal(config.name, "weather-bridge");
  assert.equal(config.runtime.trustTier, 1);
  assert.equal(config.tools.length, 1);
  assert.equal(config.tools[0].access, "read");
  assert.equal(config.bridges[0].method, "GET");
  assert.match(config.bridges[0].url, /^https:\/\/api\.example\.com\//);
  assert.deepEqual(Object.keys(config.bridges[0].queryParams).length > 0, true);
  assert.ok(Object.keys(config.tools[0].parameters).length > 0);
});

Deno.test("starterConfig() keeps names that YAML would read as other types as strings", () => {
  for (const name of ["true", "null", "123", "1e5", "0x1f"]) {
    assert.equal(parseConfig(starterConfig(name), { path: "n.yaml" }).name, name);
  }
});

Deno.test("starterConfig() mentions every agent, tool, bridge and runtime field", () => {
  const text = starterConfig("demo");
  const props = (configJsonSchema().properties as Record<string, { properties: object }>).agent
    .properties as Record<string, { properties?: object; items?: { properties?: object } }>;
  const keys = new Set<string>(Object.keys(props));
  for (const block of ["exposes", "http_bridge", "escalation_rules"]) {
    for (const key of Object.keys(props[block].items?.properties ?? {})) keys.add(key);
  }
  for (const key of Object.keys(props.runtime.properties ?? {})) keys.add(key);
  for (const key of keys) assert.match(text, new RegExp(`\\b${key}\\b`), key);
  assert.match(text, /^#/);
});

Deno.test("starterConfig() cites no document outside the project and says how held calls are approved", () => {
  const text = starterConfig("demo");
  // The full check against the CLI's commands is tests/e2e/commands_named_test.ts.
  assert.doesNotMatch(text, /SPEC/);
  assert.match(text, /held for review/);
  assert.match(text, /loom approvals\s+#?\s*approve ID/);
  assert.match(text, /audit_failure: refuse/);
});

Deno.test("starterConfig() names the same schema file as the README", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const named = (text: string) => [...text.matchAll(/\$schema=\.\/([\w.-]+)/g)].map((m) => m[1]);
  const starter = named(starterConfig("weather-bridge"));
  assert.deepEqual(starter, ["loom.schema.json"]);
  assert.ok(named(readme).length > 0, "the README names a schema file");
  for (const file of named(readme)) assert.equal(file, "loom.schema.json");
});
