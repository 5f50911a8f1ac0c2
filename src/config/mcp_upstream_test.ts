import assert from "node:assert/strict";
import type { ConfigIssue } from "../errors.ts";
import { parseConfig } from "./load.ts";
import { upstreamInputSchema } from "./mcp_upstream.ts";
import { onlyIssue, refusedIssues } from "./_testing.ts";

function load(text: string, warnings: ConfigIssue[] = []) {
  return parseConfig(text, { path: "gw.yaml", onWarning: (w) => warnings.push(w) });
}

const MEMORY = `agent:
  name: memory
  mcp_upstream:
    command: ["npm:@modelcontextprotocol/server-memory@2026.8.31"]
`;

Deno.test("mcp_upstream: three lines wrap a module server, with defaults and no warnings", () => {
  const warnings: ConfigIssue[] = [];
  const config = load(MEMORY, warnings);
  assert.deepEqual(warnings, []);
  const up = config.mcpUpstream!;
  assert.deepEqual(up.command, ["npm:@modelcontextprotocol/server-memory@2026.8.31"]);
  assert.equal(up.url, null);
  assert.equal(up.tools, null);
  assert.equal(up.allowSampling, false);
  assert.equal(up.startTimeoutMs, 30_000);
  assert.deepEqual(up.permissions, { read: [], write: [], net: [], env: [], sys: [] });
  assert.deepEqual(config.tools, []);
});

Deno.test("mcp_upstream: chosen tools are renamed and keep their access", () => {
  const config = load(`agent:
  name: memory
  mcp_upstream:
    command: ["npm:x"]
    env: { MEMORY_FILE_PATH: /tmp/m.jsonl }
    env_secrets: { SOME_KEY: memory_key }
    tools:
      - { name: read_graph, as: memory_read }
      - { name: create_entities, access: write, rate_limit: { per_minute: 5 } }
  runtime: { trust_tier: 2 }
`);
  assert.deepEqual(config.mcpUpstream!.tools, [
    { name: "read_graph", as: "memory_read", access: null },
    {
      name: "create_entities",
      as: "create_entities",
      access: "write",
      rateLimit: { limit: 5, windowMs: 60_000 },
    },
  ]);
  assert.deepEqual(config.mcpUpstream!.envSecrets, { SOME_KEY: "memory_key" });
});

Deno.test("mcp_upstream: neither or both of command and url is refused at its line", () => {
  const neither = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    env: {}
`)
  ));
  assert.equal(neither.line, 3);
  assert.match(neither.message, /exactly one of command .* and url/);
  const both = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["npm:x"]
    url: https://mcp.example.com/mcp
`)
  ));
  assert.match(both.message, /exactly one of command/);
});

Deno.test("mcp_upstream: bridges beside an upstream are refused", () => {
  const issue = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  exposes:
    - { name: ping, description: Ping }
  http_bridge:
    - { tool_name: ping, url: https://api.example.com/ping }
  mcp_upstream:
    command: ["npm:x"]
`)
  ));
  assert.equal(issue.line, 3);
  assert.match(issue.message, /remove exposes/);
});

Deno.test("mcp_upstream: a native program needs sandbox none, said at command[0]", () => {
  const issue = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["/usr/bin/some-server", "--stdio"]
`)
  ));
  assert.equal(issue.line, 4);
  assert.match(issue.message, /not a Deno module .*runtime.sandbox: none/);
  const config = load(`agent:
  name: gw
  mcp_upstream:
    command: ["/usr/bin/some-server", "--stdio"]
  runtime: { sandbox: none }
`);
  assert.equal(config.runtime.sandbox, "none");
});

Deno.test("mcp_upstream: permissions of a native program are refused", () => {
  const issues = refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["some-server"]
    permissions: { read: [/tmp] }
  runtime: { sandbox: none }
`)
  );
  assert.match(onlyIssue(issues).message, /permissions apply to a Deno module upstream only/);
});

Deno.test("mcp_upstream: a permission entry with a comma cannot widen the flag", () => {
  const issue = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["npm:x"]
    permissions: { read: ["/tmp/data,/etc"] }
`)
  ));
  assert.match(issue.message, /may not contain a comma/);
});

Deno.test("mcp_upstream: a credential written in env is refused; env_secrets is the way", () => {
  const issues = refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["npm:x"]
    env: { API_TOKEN: hunter2hunter2 }
`)
  );
  assert.ok(issues.some((i) => /looks like a credential/.test(i.message)), String(issues));
});

Deno.test("mcp_upstream: a literal Bearer token in an upstream header is refused", () => {
  const issues = refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    url: https://mcp.example.com/mcp
    headers: { Authorization: "Bearer abcdefghijklmnopqrstuvwxyz0123456789" }
`)
  );
  assert.ok(issues.some((i) => /Literal credential/.test(i.message)), String(issues));
  const config = load(`agent:
  name: gw
  mcp_upstream:
    url: https://mcp.example.com/mcp
    headers: { Authorization: "Bearer {{secret:mcp_token}}" }
`);
  assert.equal(config.mcpUpstream!.url, "https://mcp.example.com/mcp");
});

Deno.test("mcp_upstream: stdio-only fields on a url upstream are refused", () => {
  const issue = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    url: https://mcp.example.com/mcp
    env_secrets: { TOKEN: t }
`)
  ));
  assert.match(issue.message, /env_secrets applies to a command upstream only/);
});

Deno.test("mcp_upstream: credentials in the url are refused", () => {
  const issues = refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    url: https://user:pw@mcp.example.com/mcp
`)
  );
  assert.ok(issues.some((i) => /Credentials in the url/.test(i.message)), String(issues));
});

Deno.test("mcp_upstream: two choices listed under one name, and a write choice at tier 1", () => {
  const issues = refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["npm:x"]
    tools:
      - { name: a, as: same }
      - { name: b, as: same }
      - { name: c, access: write }
`)
  );
  assert.equal(issues.length, 2, issues.map((i) => i.message).join("\n"));
  assert.match(issues[0].message, /both be listed as "same"/);
  assert.equal(issues[0].line, 7);
  assert.match(issues[1].message, /access "write", which trust tier 1 does not allow/);
});

Deno.test("mcp_upstream: a hyphenated upstream name is listed with _, else it must be renamed", () => {
  const config = load(`agent:
  name: gw
  mcp_upstream:
    command: ["npm:x"]
    tools:
      - { name: get-sum }
`);
  assert.equal(config.mcpUpstream!.tools![0].as, "get_sum");
  const issue = onlyIssue(refusedIssues(() =>
    load(`agent:
  name: gw
  mcp_upstream:
    command: ["npm:x"]
    tools:
      - { name: "${"x".repeat(70)}" }
`)
  ));
  assert.match(issue.message, /rename it with "as"/);
});

Deno.test("upstreamInputSchema() drops a draft-07 label and keeps what the gate can check", () => {
  const checked = upstreamInputSchema({
    type: "object",
    properties: { query: { type: "string" } },
    required: ["query"],
    $schema: "http://json-schema.org/draft-07/schema#",
  });
  assert.ok(checked.ok);
  assert.equal("$schema" in checked.schema, false);
});

Deno.test("upstreamInputSchema() refuses a schema the gate could not check whole", () => {
  const remote = upstreamInputSchema({
    type: "object",
    properties: { a: { $ref: "https://evil.example/schema.json" } },
  });
  assert.equal(remote.ok, false);
  const notObject = upstreamInputSchema({ type: "string" });
  assert.equal(notObject.ok, false);
  if (!notObject.ok) assert.match(notObject.problem, /type "object"/);
});
