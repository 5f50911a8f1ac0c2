import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ConfigError, type ConfigIssue, NotFoundError } from "../errors.ts";
import { loadConfig, MAX_CONFIG_BYTES, parseConfig } from "./load.ts";
import { DEFAULT_ANOMALY } from "./anomaly.ts";
import { tempDir } from "../../tests/_helpers.ts";
import { FULL_CONFIG, onlyIssue, refusedIssues, VALID_CONFIG } from "./_testing.ts";

const VALID = VALID_CONFIG;

function issuesOf(text: string): ConfigIssue[] {
  return refusedIssues(() => parseConfig(text, { path: "test.yaml" }));
}

function only(text: string): ConfigIssue {
  return onlyIssue(issuesOf(text));
}

// --- negative: structure and YAML -------------------------------------------

Deno.test("parseConfig() reports an unknown key at its line:column with a did-you-mean hint", () => {
  const issue = only(VALID + "  runtime:\n    trust_teir: 2\n");
  assert.equal(issue.file, "test.yaml");
  assert.equal(issue.line, 12);
  assert.equal(issue.column, 5);
  assert.equal(issue.path, "agent.runtime.trust_teir");
  assert.equal(issue.message, 'Unknown key "trust_teir": did you mean "trust_tier"?');
});

Deno.test("parseConfig() positions an unknown key inside a flow mapping at the key", () => {
  const issue = only(VALID.replace("id: { type: string }", "id: { type: string, max_lenght: 3 }"));
  assert.equal(issue.line, 7);
  assert.equal(issue.column, 29);
  assert.equal(issue.path, "agent.exposes[0].parameters.id.max_lenght");
  assert.match(issue.message, /did you mean "max_length"\?$/);
});

Deno.test("parseConfig() suggests the snake_case key for a camelCase key", () => {
  const issue = only(VALID + "  runtime:\n    maxExecutionTime: 5s\n");
  assert.equal(issue.message, 'Unknown key "maxExecutionTime": did you mean "max_execution_time"?');
});

Deno.test("parseConfig() gives no hint when no valid key is close", () => {
  const issue = only(VALID + "  completely_different: 1\n");
  assert.equal(issue.message, 'Unknown key "completely_different"');
  assert.equal(issue.line, 11);
  assert.equal(issue.column, 3);
});

Deno.test("parseConfig() reports a YAML syntax error with line:column", () => {
  const issues = issuesOf("agent:\n  name: demo\n  exposes: [1, 2\n");
  assert.ok(issues.length >= 1);
  assert.ok(issues.every((i) => i.line > 0 && i.column > 0));
  assert.match(issues[0].message, /^Invalid YAML: /);
  assert.match(String(new ConfigError(issues).message), /test\.yaml:\d+:\d+: Invalid YAML/);
});

Deno.test("parseConfig() refuses a tab used as indentation at its position", () => {
  const issues = issuesOf("agent:\n\tname: demo\n");
  assert.equal(issues[0].line, 2);
  assert.match(issues[0].message, /^Invalid YAML/);
});

Deno.test("parseConfig() refuses a duplicate key at the second occurrence", () => {
  const issue = only(VALID.replace("  name: demo\n", "  name: demo\n  name: other\n"));
  assert.equal(issue.line, 3);
  assert.equal(issue.column, 3);
  assert.equal(issue.message, "Duplicate key: each key may appear once in a mapping");
});

Deno.test("parseConfig() refuses keys that collide once converted to strings", () => {
  const issues = issuesOf("agent:\n  name: demo\n  1: a\n  '1': b\n");
  assert.ok(issues.some((i) => i.line === 4 && /Duplicate key/.test(i.message)));
});

Deno.test("parseConfig() refuses custom and language-specific tags", () => {
  for (const tagged of ["!!binary aGVsbG8=", "!foo bar", "!!timestamp 2001-12-14", "!!set {a}"]) {
    const issue = only(VALID.replace("description: Fetch one user", `description: ${tagged}`));
    assert.equal(issue.line, 5, tagged);
    assert.match(issue.message, /^Unsupported tag/, tagged);
  }
});

Deno.test("parseConfig() refuses an alias bomb", () => {
  let text = "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (let i = 1; i < 12; i++) {
    text += `x${i}: &x${i} [${Array(10).fill(`*x${i - 1}`).join(", ")}]\n`;
  }
  const issues = issuesOf(text + VALID);
  assert.ok(issues.some((i) => /Too many aliases/.test(i.message)));
});

Deno.test("parseConfig() refuses an alias inside the node it names", () => {
  const issue = only(VALID + "  extra: &loop [1, *loop]\n");
  assert.equal(issue.line, 11);
  assert.equal(issue.message, "Alias refers to a node that contains it");
});

Deno.test("parseConfig() refuses an unknown alias", () => {
  const issue = only(VALID.replace("name: demo", "name: *nothing"));
  assert.equal(issue.line, 2);
  assert.match(issue.message, /^Unknown alias/);
});

Deno.test("parseConfig() refuses nesting deeper than 64 levels", () => {
  const deep = "[".repeat(200) + "]".repeat(200);
  const issues = issuesOf(VALID + `  extra: ${deep}\n`);
  assert.ok(issues.some((i) => /Nesting is too deep/.test(i.message)));
});

Deno.test("parseConfig() refuses a collection used as a key", () => {
  const issues = issuesOf("agent:\n  name: demo\n  ? [a, b]\n  : 1\n");
  assert.ok(issues.some((i) => i.line === 3 && i.message === "Map keys must be plain strings"));
});

Deno.test("parseConfig() refuses a document that is not a mapping with agent", () => {
  for (const text of ["", "# only a comment\n", "- a\n- b\n", "just text\n", "null\n"]) {
    const issue = only(text);
    assert.equal(issue.message, 'Config must be a mapping with the top-level key "agent"', text);
  }
  const issue = issuesOf("agnet:\n  name: demo\n");
  assert.ok(issue.some((i) => i.message === 'Unknown key "agnet": did you mean "agent"?'));
  assert.ok(issue.some((i) => i.message === 'Missing required key "agent"'));
});

Deno.test("parseConfig() refuses a second YAML document", () => {
  const issues = issuesOf(VALID + "---\nagent:\n  name: two\n");
  assert.ok(issues.some((i) => i.line === 11 && /multiple documents/.test(i.message)));
});

Deno.test("parseConfig() refuses text larger than 1 MiB", () => {
  const issue = only(VALID + "#" + "x".repeat(MAX_CONFIG_BYTES) + "\n");
  assert.equal(issue.line, 0);
  assert.match(issue.message, /^Config file is too large: 1\.0 MiB exceeds the 1 MiB limit$/);
});

Deno.test("parseConfig() positions a missing required key at its parent mapping", () => {
  const issue = only(VALID.replace("      description: Fetch one user\n", ""));
  assert.equal(issue.path, "agent.exposes[0].description");
  assert.equal(issue.message, 'Missing required key "description"');
  assert.equal(issue.line, 4);
  assert.equal(issue.column, 7);
});

Deno.test("parseConfig() tells to quote a number where a string is expected", () => {
  const issue = only(VALID.replace("  name: demo\n", "  name: demo\n  version: 1.0\n"));
  assert.equal(issue.path, "agent.version");
  assert.equal(issue.message, "Expected a string, got a number: quote it to make it a string");
  assert.equal(issue.line, 3);
  assert.equal(issue.column, 12);
});

Deno.test("parseConfig() refuses a lower-case method and suggests the upper-case one", () => {
  const issue = only(
    VALID.replace("    - tool_name: get_user\n", "    - tool_name: get_user\n      method: get\n"),
  );
  assert.equal(issue.path, "agent.http_bridge[0].method");
  assert.match(issue.message, /^Expected one of "GET", "HEAD", .*: did you mean "GET"\?$/);
});

Deno.test("parseConfig() refuses an agent name that is not kebab-case", () => {
  for (const name of ["Demo", "demo_agent", "-demo", "demo-", "de--mo", "a".repeat(65)]) {
    const issue = only(VALID.replace("name: demo", `name: ${name}`));
    assert.equal(issue.path, "agent.name", name);
  }
});

Deno.test("parseConfig() refuses a version that is not semver", () => {
  for (const version of ['"1.0"', '"v1.0.0"', '"01.0.0"', '"1.0.0-"']) {
    const issue = only(VALID.replace("  name: demo\n", `  name: demo\n  version: ${version}\n`));
    assert.equal(issue.message, 'Version must be a semantic version such as "1.0.0"', version);
  }
});

Deno.test("parseConfig() refuses malformed durations and sizes", () => {
  const cases: [string, string][] = [
    ["max_execution_time: 5x", "agent.runtime.max_execution_time"],
    ["max_execution_time: -1", "agent.runtime.max_execution_time"],
    ["max_execution_time: 0", "agent.runtime.max_execution_time"],
    ["max_execution_time: 25h", "agent.runtime.max_execution_time"],
    ["max_execution_time: true", "agent.runtime.max_execution_time"],
    ["max_response_bytes: 1.5", "agent.runtime.max_response_bytes"],
    ["max_response_bytes: 10XB", "agent.runtime.max_response_bytes"],
    ["max_response_bytes: 2GiB", "agent.runtime.max_response_bytes"],
    ["max_response_bytes: 0", "agent.runtime.max_response_bytes"],
  ];
  for (const [line, path] of cases) {
    const issue = only(VALID + `  runtime:\n    ${line}\n`);
    assert.equal(issue.path, path, line);
    assert.equal(issue.line, 12, line);
  }
});

Deno.test("parseConfig() reports every problem in one ConfigError, in document order", () => {
  const text = `agent:
  name: Bad_Name
  exposes:
    - name: get_user
      description: Fetch one user
      acess: write
      parameters:
        id: { type: string }
  http_bridge:
    - tool_name: get_user
      url: https://api.example.com/users/{{id}}
      headers: { Authorization: "token ghp_abcdefghijklmnopqrstuvwxyz0123456789" }
  runtime:
    trust_teir: 2
    max_execution_time: 5x
`;
  const issues = issuesOf(text);
  assert.deepEqual(issues.map((i) => i.line), [2, 6, 12, 14, 15]);
  assert.deepEqual(issues.map((i) => i.path), [
    "agent.name",
    "agent.exposes[0].acess",
    "agent.http_bridge[0].headers.Authorization",
    "agent.runtime.trust_teir",
    "agent.runtime.max_execution_time",
  ]);
  const error = new ConfigError(issues);
  assert.match(error.message, /^Cannot load config: 5 problems\n/);
  assert.equal(error.code, "CONFIG_INVALID");
  assert.ok(!error.message.includes("ghp_abcdef"));
});

Deno.test("parseConfig() reports load-time check failures together", () => {
  const text = VALID.replace("url: https://api.example.com/users/{{id}}", "url: https://{{host}}/x")
    .replace("    - tool_name: get_user\n", "    - tool_name: get_user\n      method: DELETE\n");
  const issues = issuesOf(text);
  assert.equal(issues.length, 3, issues.map((i) => i.message).join("\n"));
  assert.match(issues[0].message, /^Method "DELETE" is not allowed at trust tier 1/);
  assert.match(issues[1].message, /^URL origin must be literal/);
  assert.match(issues[2].message, /^Placeholder "\{\{host\}\}" names no parameter/);
});

// --- positive ---------------------------------------------------------------

Deno.test("parseConfig() applies the defaults", () => {
  const config = parseConfig(VALID, { path: "demo.yaml" });
  assert.equal(config.name, "demo");
  assert.equal(config.version, "1.0.0");
  assert.equal(config.description, "");
  assert.deepEqual(config.runtime, {
    trustTier: 1,
    maxExecutionTimeMs: 30_000,
    maxResponseBytes: 1_048_576,
    rateLimit: { limit: 120, windowMs: 60_000 },
    injection: "block",
    sandbox: "deno",
    allowNetworks: [],
    auditFailure: "refuse",
    inlineApproval: true,
    outputScan: "flag",
    anomaly: { ...DEFAULT_ANOMALY },
  });
  assert.deepEqual(config.tools, [{
    name: "get_user",
    description: "Fetch one user",
    access: "read",
    parameters: { id: { type: "string", required: true, allow: [], maxLength: 10_000 } },
  }]);
  assert.deepEqual(config.bridges, [{
    toolName: "get_user",
    method: "GET",
    url: "https://api.example.com/users/{{id}}",
    queryParams: {},
    headers: {},
    bodyTemplate: null,
    responsePath: null,
    timeoutMs: null,
  }]);
  assert.deepEqual(config.escalationRules, []);
});

Deno.test("parseConfig() resolves durations to milliseconds and sizes to bytes", () => {
  const durations: [string, number][] = [
    ["500ms", 500],
    ["2s", 2000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    ["5", 5000],
    ["90", 90_000],
  ];
  for (const [text, ms] of durations) {
    const config = parseConfig(VALID + `  runtime:\n    max_execution_time: ${text}\n`, {
      path: "d.yaml",
    });
    assert.equal(config.runtime.maxExecutionTimeMs, ms, text);
  }
  const sizes: [string, number][] = [
    ["65536", 65_536],
    ["64KiB", 65_536],
    ["1MiB", 1_048_576],
    ["10MB", 10_000_000],
    ["512B", 512],
    ["1gib", 1024 ** 3],
  ];
  for (const [text, bytes] of sizes) {
    const config = parseConfig(VALID + `  runtime:\n    max_response_bytes: ${text}\n`, {
      path: "s.yaml",
    });
    assert.equal(config.runtime.maxResponseBytes, bytes, text);
  }
});

Deno.test("parseConfig() maps every field to the resolved shape", () => {
  const text = FULL_CONFIG;
  const config = parseConfig(text, { path: "full.yaml" });
  assert.equal(config.version, "2.1.0-rc.1");
  assert.deepEqual(config.tools[0].rateLimit, { limit: 5, windowMs: 60_000 });
  assert.deepEqual(config.tools[0].parameters.title, {
    type: "string",
    required: true,
    allow: ["sql"],
    minLength: 1,
    maxLength: 80,
    pattern: "^[a-z ]+$",
  });
  assert.deepEqual(config.tools[0].parameters.tags.items, {
    type: "string",
    required: true,
    allow: [],
    enum: ["a", "b"],
    maxLength: 10_000,
  });
  assert.deepEqual(config.tools[0].parameters.meta.properties?.size, {
    type: "integer",
    required: true,
    allow: [],
    default: 3,
    minimum: 1,
    maximum: 9,
  });
  assert.deepEqual(config.bridges[0], {
    toolName: "create_item",
    method: "POST",
    url: "https://api.example.com/items",
    queryParams: { title: "t" },
    headers: { "X-Api-Key": "{{secret:example-key}}" },
    bodyTemplate: { title: "{{title}}", tags: "{{tags}}", fixed: [1, true, null] },
    responsePath: "data.item",
    timeoutMs: 2000,
  });
  assert.deepEqual(config.escalationRules, [{
    name: "big",
    reason: "",
    tool: "create_*",
    access: "write",
    paramGt: {},
    paramEq: { title: "boss" },
    paramContains: {},
  }]);
  assert.deepEqual(config.runtime, {
    trustTier: 2,
    maxExecutionTimeMs: 30_000,
    maxResponseBytes: 1_048_576,
    rateLimit: { limit: 30, windowMs: 60_000 },
    injection: "audit",
    sandbox: "none",
    allowNetworks: ["10.0.0.0/8"],
    auditFailure: "refuse",
    inlineApproval: true,
    outputScan: "flag",
    anomaly: { ...DEFAULT_ANOMALY },
  });
});

Deno.test("parseConfig() sets source.digest to the SHA-256 of the UTF-8 bytes", () => {
  const text = VALID.replace("Fetch one user", "Fetch one user (ünïcode)");
  const config = parseConfig(text, { path: "d.yaml" });
  const expected = createHash("sha256").update(new TextEncoder().encode(text)).digest("hex");
  assert.deepEqual(config.source, { path: "d.yaml", digest: expected });
});

Deno.test("parseConfig() returns a deeply frozen config", () => {
  const config = parseConfig(VALID, { path: "d.yaml" });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.tools[0].parameters.id));
  assert.ok(Object.isFrozen(config.runtime.allowNetworks));
  assert.throws(() => {
    (config.runtime as { trustTier: number }).trustTier = 4;
  }, TypeError);
});

Deno.test("parseConfig() reports warnings through onWarning, positioned, and still loads", () => {
  const warnings: ConfigIssue[] = [];
  const text = VALID.replace("https://api.example.com", "http://api.example.com");
  const config = parseConfig(text, { path: "w.yaml", onWarning: (w) => warnings.push(w) });
  assert.equal(config.bridges[0].url, "http://api.example.com/users/{{id}}");
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].line, 10);
  assert.equal(warnings[0].path, "agent.http_bridge[0].url");
  assert.match(warnings[0].message, /plain http to a non-loopback host/);
});

Deno.test("parseConfig() accepts anchors and aliases within the limit", () => {
  const text = VALID.replace(
    "id: { type: string }",
    "id: &idspec { type: string }\n        other: *idspec",
  );
  const config = parseConfig(text, { path: "a.yaml" });
  assert.deepEqual(config.tools[0].parameters.other, config.tools[0].parameters.id);
});

/** A pack-sized config: five tools with parameters, bridges, headers and a rule. */
function packConfig(n: number): string {
  const tools = ["query", "query_range", "targets", "alerts", "label_values"];
  let text = `# Pack ${n}\nagent:\n  name: pack-${n}\n  version: "1.2.0"\n` +
    `  description: "Bridges a metrics API"\n  exposes:\n`;
  for (const tool of tools) {
    text += `    - name: ${tool}\n      description: "Run ${tool} against the metrics API"\n` +
      `      parameters:\n        query: { type: string, max_length: 2000 }\n` +
      `        time: { type: string, required: false, pattern: "^[0-9.]+$" }\n` +
      `        limit: { type: integer, required: false, minimum: 1, maximum: 1000, default: 100 }\n` +
      `      rate_limit: { per_minute: 60 }\n`;
  }
  text += "  http_bridge:\n";
  for (const tool of tools) {
    text += `    - tool_name: ${tool}\n      method: GET\n` +
      `      url: "https://metrics.example.com/api/v1/${tool}/{{query}}"\n` +
      `      query_params: { time: time, limit: limit }\n` +
      `      headers: { Authorization: "Bearer {{secret:metrics-token}}", Accept: application/json }\n` +
      `      response_path: data.result\n      timeout: 10s\n`;
  }
  text +=
    `  escalation_rules:\n    - { name: big-range, tool: "query_*", param_gt: { limit: 500 } }\n` +
    `  runtime:\n    trust_tier: 1\n    max_execution_time: 30s\n    max_response_bytes: 1MiB\n`;
  return text;
}

Deno.test("parseConfig() loads pack-sized configs with five tools each", () => {
  // Speed is measured by `deno task bench`, never by timed assertions here.
  for (let i = 0; i < 50; i++) {
    assert.equal(parseConfig(packConfig(i), { path: "p.yaml" }).tools.length, 5);
  }
});

// --- loadConfig ---------------------------------------------------------------

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await using dir = await tempDir("loom-config-test-");
  await fn(dir.path);
}

Deno.test("loadConfig() refuses a file name without .yaml or .yml", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/demo.json`;
    await Deno.writeTextFile(path, VALID);
    await assert.rejects(loadConfig(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.issues[0].message, 'Config file name must end in ".yaml" or ".yml"');
      return true;
    });
  });
});

Deno.test("loadConfig() throws NotFoundError for a missing file", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(loadConfig(`${dir}/missing.yaml`), NotFoundError);
  });
});

Deno.test("loadConfig() refuses a directory", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/sub.yaml`);
    await assert.rejects(loadConfig(`${dir}/sub.yaml`), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.issues[0].message, "Config path is not a regular file");
      return true;
    });
  });
});

Deno.test("loadConfig() refuses a file over 1 MiB", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/big.yml`;
    await Deno.writeTextFile(path, VALID + "#" + "x".repeat(2 * MAX_CONFIG_BYTES));
    await assert.rejects(loadConfig(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(
        e.issues[0].message,
        /^Config file is too large: 2\.0 MiB exceeds the 1 MiB limit$/,
      );
      return true;
    });
  });
});

Deno.test("loadConfig() refuses bytes that are not UTF-8", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/latin1.yaml`;
    const bytes = new TextEncoder().encode(VALID.replace("Fetch one user", "Fetch one user X"));
    bytes[bytes.indexOf("X".charCodeAt(0))] = 0xff;
    await Deno.writeFile(path, bytes);
    await assert.rejects(loadConfig(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.issues[0].message, "Config file is not valid UTF-8");
      return true;
    });
  });
});

Deno.test("loadConfig() loads a file, digests its bytes and reports warnings", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/demo.yml`;
    const text = VALID.replace("https://api.example.com", "http://api.example.com");
    await Deno.writeTextFile(path, text);
    const warnings: ConfigIssue[] = [];
    const config = await loadConfig(path, { onWarning: (w) => warnings.push(w) });
    assert.equal(config.name, "demo");
    assert.equal(config.source.path, path);
    const bytes = await Deno.readFile(path);
    assert.equal(config.source.digest, createHash("sha256").update(bytes).digest("hex"));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].file, path);
  });
});

Deno.test("loadConfig() positions errors with the file path as given", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/typo.yaml`;
    await Deno.writeTextFile(path, VALID + "  runtime:\n    trust_teir: 2\n");
    await assert.rejects(loadConfig(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `Cannot load config: ${path}:12:5: agent.runtime.trust_teir: Unknown key "trust_teir": did you mean "trust_tier"?`,
      );
      return true;
    });
  });
});
