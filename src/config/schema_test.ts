import assert from "node:assert/strict";
import {
  AgentConfigInput,
  CONFIG_SCHEMA_ID,
  configJsonSchema,
  Duration,
  HTTP_METHODS,
  Size,
} from "./schema.ts";

type Json = Record<string, unknown>;

function agentSchema(): Json {
  const schema = configJsonSchema();
  return (schema.properties as Json).agent as Json;
}

Deno.test("configJsonSchema() is draft 2020-12 with an $id and a title", () => {
  const schema = configJsonSchema();
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(schema.$id, CONFIG_SCHEMA_ID);
  assert.equal(schema.title, "LOOM agent config");
  assert.equal(schema.type, "object");
  assert.deepEqual(schema.required, ["agent"]);
  assert.equal(schema.additionalProperties, false);
});

Deno.test("configJsonSchema() forbids unknown keys on agent and every nested object", () => {
  const agent = agentSchema();
  assert.equal(agent.additionalProperties, false);
  assert.deepEqual(agent.required, ["name"]);
  const props = agent.properties as Json;
  const runtime = props.runtime as Json;
  assert.equal(runtime.additionalProperties, false);
  const tool = (props.exposes as Json).items as Json;
  assert.equal(tool.additionalProperties, false);
  const bridge = (props.http_bridge as Json).items as Json;
  assert.equal(bridge.additionalProperties, false);
  const rule = (props.escalation_rules as Json).items as Json;
  assert.equal(rule.additionalProperties, false);
  const defs = configJsonSchema().$defs as Json;
  assert.equal((defs.Parameter as Json).additionalProperties, false);
});

Deno.test("configJsonSchema() documents defaults and constraints for editors", () => {
  const props = agentSchema().properties as Json;
  const runtime = (props.runtime as Json).properties as Json;
  assert.deepEqual((runtime.trust_tier as Json).default, 1);
  assert.equal((runtime.trust_tier as Json).minimum, 1);
  assert.equal((runtime.trust_tier as Json).maximum, 4);
  assert.equal((runtime.max_execution_time as Json).default, "30s");
  assert.equal((runtime.max_response_bytes as Json).default, "1MiB");
  assert.deepEqual((runtime.rate_limit as Json).default, { per_minute: 120 });
  assert.deepEqual((runtime.injection as Json).enum, ["block", "audit", "off"]);
  assert.deepEqual((runtime.sandbox as Json).enum, ["deno", "docker", "none"]);
  const bridge = ((props.http_bridge as Json).items as Json).properties as Json;
  assert.deepEqual((bridge.method as Json).enum, [...HTTP_METHODS]);
  assert.equal(typeof (props.name as Json).pattern, "string");
  assert.equal(typeof (props.name as Json).description, "string");
  // Recursive parameters go through $defs.
  const param = (configJsonSchema().$defs as Json).Parameter as Json;
  assert.deepEqual(((param.properties as Json).items as Json).$ref, "#/$defs/Parameter");
});

Deno.test("configJsonSchema() returns a fresh copy each time", () => {
  const a = configJsonSchema();
  a.title = "changed";
  assert.equal(configJsonSchema().title, "LOOM agent config");
  JSON.stringify(configJsonSchema());
});

Deno.test("AgentConfigInput accepts a minimal config and fills defaults", () => {
  const result = AgentConfigInput.safeParse({ agent: { name: "demo" } });
  assert.ok(result.success);
  assert.equal(result.data.agent.version, "1.0.0");
  assert.deepEqual(result.data.agent.runtime, {
    trust_tier: 1,
    max_execution_time: "30s",
    max_response_bytes: "1MiB",
    rate_limit: { per_minute: 120 },
    injection: "block",
    sandbox: "deno",
    allow_networks: [],
    audit_failure: "refuse",
    inline_approval: true,
    output_scan: "flag",
  });
});

Deno.test("AgentConfigInput refuses unknown keys at every level", () => {
  assert.equal(AgentConfigInput.safeParse({ agent: { name: "demo" }, extra: 1 }).success, false);
  assert.equal(AgentConfigInput.safeParse({ agent: { name: "demo", extra: 1 } }).success, false);
  assert.equal(
    AgentConfigInput.safeParse({ agent: { name: "demo", runtime: { extra: 1 } } }).success,
    false,
  );
});

Deno.test("Duration accepts units and seconds and refuses the rest", () => {
  for (const ok of ["500ms", "2s", "1m", "1h", "1.5s", "10", 5, 0.5, "24h"]) {
    assert.ok(Duration.safeParse(ok).success, String(ok));
  }
  for (const bad of ["5x", "-1s", "1 s", "s", "", "0s", 0, -1, "25h", true, null, "1e3s"]) {
    assert.equal(Duration.safeParse(bad).success, false, String(bad));
  }
});

Deno.test("Size accepts bytes and units and refuses the rest", () => {
  for (const ok of [65536, "65536", "64KiB", "1MiB", "1.5MiB", "10MB", "1GiB", "512B", "64kib"]) {
    assert.ok(Size.safeParse(ok).success, String(ok));
  }
  for (const bad of [0, -1, 1.5, "1.5", "10XB", "2GiB", "", "1 TB", true]) {
    assert.equal(Size.safeParse(bad).success, false, String(bad));
  }
});
