/**
 * End to end through `loom run` over stdio with the SDK client: held calls
 * never reach the upstream and are recorded as `held` naming the rule; a
 * client looping on refused calls adds a bounded number of records, the
 * summary counts every refusal, and `loom audit verify` passes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN, runLoom, startUpstream, tempDir } from "../_helpers.ts";

function textOf(result: unknown): string {
  const content = (result as { content: { text: string }[] }).content;
  return content.map((c) => c.text).join("");
}

async function records(home: string, event: string): Promise<Record<string, unknown>[]> {
  const shown = await runLoom(["audit", "show", "--event", event, "--json"], { home });
  assert.equal(shown.code, 0, shown.stderr);
  return shown.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

async function connect(config: string, home: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

Deno.test("loom run holds tier 4 writes and rule matches: the upstream sees none, the log names the rule", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "held.yaml");
  await Deno.writeTextFile(
    config,
    `agent:
  name: held-agent
  exposes:
    - name: create_item
      description: Create an item
      access: write
      parameters:
        title: { type: string, max_length: 100 }
    - name: search
      description: Search items
      parameters:
        q: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: create_item
      method: POST
      url: "${api.url}/items"
      body_template: { title: "{{title}}" }
    - tool_name: search
      url: "${api.url}/search"
      query_params: { q: q }
  escalation_rules:
    - { name: secret-search, reason: "Searches for secrets", tool: "search", param_contains: { q: password } }
  runtime:
    trust_tier: 4
`,
  );
  const client = await connect(config, home);
  try {
    const write = await client.callTool({ name: "create_item", arguments: { title: "t" } });
    assert.equal(write.isError, true);
    assert.match(textOf(write), /held for review by rule "trust_tier_4"/);
    const ruled = await client.callTool({ name: "search", arguments: { q: "admin PASSWORD" } });
    assert.equal(ruled.isError, true);
    assert.match(textOf(ruled), /held for review by rule "secret-search"/);
    assert.equal(api.requests.length, 0, "no held call reached the upstream");
    const plain = await client.callTool({ name: "search", arguments: { q: "widgets" } });
    assert.equal(plain.isError, undefined, textOf(plain));
    assert.equal(api.requests.length, 1);
  } finally {
    await client.close();
  }
  const held = (await records(home, "tool_call")).filter((r) => r.status === "held");
  assert.deepEqual(held.map((r) => [r.tool, r.rule, r.held_by]), [
    ["create_item", "trust_tier_4", "trust_tier"],
    ["search", "secret-search", "escalation_rule"],
  ]);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test("loom run bounds the records of a client looping on refused calls and counts each in a summary", async () => {
  await using api = await startUpstream(() => Response.json({ ok: true }));
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "flood.yaml");
  await Deno.writeTextFile(
    config,
    `agent:
  name: flood-agent
  exposes:
    - name: search
      description: Search items
      parameters:
        q: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: search
      url: "${api.url}/search"
      query_params: { q: q }
  runtime:
    sandbox: none
`,
  );
  const CALLS = 2_000;
  const client = await connect(config, home);
  try {
    for (let i = 0; i < CALLS; i++) {
      const res = await client.callTool({ name: "search", arguments: { q: [i] } });
      assert.equal(res.isError, true);
    }
  } finally {
    await client.close();
  }
  assert.equal(api.requests.length, 0);
  const own = (await records(home, "tool_call")).filter((r) => r.status === "invalid");
  const summaries = await records(home, "refusal_summary");
  const counted = summaries.reduce((n, r) => n + (r.refused as number), 0);
  assert.equal(own.length + counted, CALLS, "every refusal is on record or counted");
  // At most 5 own records and one summary per 10 s window the run touched,
  // however long it took.
  const times = [...own, ...summaries].map((r) => Date.parse(r.ts as string));
  const windows = Math.floor(Math.max(...times) / 10_000) -
    Math.floor(Math.min(...times) / 10_000) + 1;
  assert.ok(own.length <= 5 * windows, `${own.length} own records in ${windows} windows`);
  assert.ok(summaries.length <= windows, `${summaries.length} summaries in ${windows} windows`);
  assert.deepEqual((summaries[0].clients as { client: string }[])[0].client, "stdio");
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
