/**
 * End to end: a config with `provenance: ai-generated` through the real CLI.
 * `loom run` over stdio lists none of its tools and refuses their calls (the
 * upstream receives nothing) until `loom quarantine approve` records a
 * person's approval of its exact bytes; the next start serves them. The
 * person who submitted a config cannot approve it, a changed byte needs a
 * new approval, `loom validate` says so, and every decision is audited.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readAuditRecords } from "../../src/security/audit/mod.ts";
import { INITIALIZE, jsonLines, runLoom, startUpstream, tempDir, toolCall } from "../_helpers.ts";

function agentYaml(url: string, provenance: string): string {
  return `agent:
  name: drafted
  provenance: ${provenance}
  exposes:
    - name: lookup
      description: Look something up
      parameters:
        q: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: lookup
      url: "${url}/lookup"
      query_params: { q: q }
  runtime:
    sandbox: none
`;
}

/** Initialize, list the tools and call `lookup` over stdio; the answers by id. */
async function listAndCall(config: string, home: string) {
  const run = await runLoom(["run", config], {
    home,
    stdin: jsonLines(
      INITIALIZE,
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      toolCall(3, "lookup", { q: "x" }),
    ),
  });
  assert.equal(run.code, 0, run.stderr);
  const byId = new Map<unknown, Record<string, unknown>>();
  for (const line of run.stdout.split("\n").filter((l) => l !== "")) {
    const message = JSON.parse(line);
    byId.set(message.id, message.result);
  }
  const tools = (byId.get(2)?.tools as { name: string }[]).map((t) => t.name);
  const called = byId.get(3) as { isError?: boolean; content: { text: string }[] };
  return { tools, called, text: called.content.map((c) => c.text).join(""), stderr: run.stderr };
}

async function approvalRecords(home: string) {
  return (await readAuditRecords(join(home, "audit"))).filter((r) => r.event === "config_approval");
}

Deno.test("loom run serves no tool of an ai-generated config until loom quarantine approve; then after a restart it does", async () => {
  await using dir = await tempDir("loom-provenance-e2e-");
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const home = join(dir.path, "home");
  const config = join(dir.path, "drafted.yaml");
  await Deno.writeTextFile(
    config,
    agentYaml(api.url, "{ source: ai-generated, generator: test/model }"),
  );

  const validate = await runLoom(["validate", config], { home });
  assert.equal(validate.code, 0, validate.stderr);
  assert.match(validate.stderr, /provenance ai-generated: its tools are quarantined/);
  assert.match(validate.stderr, /loom quarantine approve /);

  const before = await listAndCall(config, home);
  assert.deepEqual(before.tools, []);
  assert.equal(before.called.isError, true);
  assert.match(before.text, /quarantined/);
  assert.match(before.text, /loom quarantine approve drafted\.yaml/);
  assert.match(before.stderr, /serving 0 tool\(s\)/);
  assert.equal(api.requests.length, 0);

  const approve = await runLoom(["quarantine", "approve", config], { home });
  assert.equal(approve.code, 0, approve.stderr);
  assert.match(approve.stdout, /Approved agent "drafted"/);

  const after = await listAndCall(config, home);
  assert.deepEqual(after.tools, ["lookup"]);
  assert.equal(after.called.isError ?? false, false, after.text);
  assert.equal(api.requests.length, 1);

  const [approved] = await approvalRecords(home);
  assert.equal(approved.action, "approved");
  assert.equal(approved.agent, "drafted");
  assert.match(String(approved.approver), /^cli:/);
  assert.deepEqual(approved.submitters, ["generator:test/model"]);
  const refusals = (await readAuditRecords(join(home, "audit")))
    .filter((r) => r.event === "trust_violation" && r.action === "quarantined");
  assert.equal(refusals.length, 1);

  // One byte more: a new digest, which nobody approved.
  await Deno.writeTextFile(config, "\n", { append: true });
  const edited = await listAndCall(config, home);
  assert.deepEqual(edited.tools, []);
  assert.equal(edited.called.isError, true);
  assert.equal(api.requests.length, 1);
});

Deno.test("loom quarantine approve refuses the person who submitted the config, and records the refusal", async () => {
  await using dir = await tempDir("loom-provenance-e2e-");
  const home = join(dir.path, "home");
  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  const draft = join(dir.path, "drafted.yaml");
  // No generator named: whoever adds it is its submitter.
  await Deno.writeTextFile(draft, agentYaml("https://api.example.com", "ai-generated"));
  const add = await runLoom(["quarantine", "add", draft], { home });
  assert.equal(add.code, 0, add.stderr);
  const promote = await runLoom(["quarantine", "promote", "drafted", "--to", agents], { home });
  assert.equal(promote.code, 0, promote.stderr);
  const promoted = join(agents, "drafted.yaml");

  const refused = await runLoom(["quarantine", "approve", promoted], { home });
  assert.equal(refused.code, 77, refused.stderr);
  assert.match(refused.stderr, /submitted this config: its approval must come from someone else/);
  const [record] = await approvalRecords(home);
  assert.equal(record.action, "refused");
  assert.equal(record.approver, (record.submitters as string[])[0]);
  assert.match(String(record.reason), /submitted this config/);
  const run = await runLoom(["run", promoted], { home });
  assert.match(run.stderr, /serving 0 tool\(s\)/);

  // A human config needs no approval: the command says so.
  await Deno.writeTextFile(draft, agentYaml("https://api.example.com", "human"));
  const human = await runLoom(["quarantine", "approve", draft], { home });
  assert.equal(human.code, 64, human.stderr);
  assert.match(human.stderr, /not "ai-generated"/);
});

Deno.test("loom quarantine add --submitted-by names the generator, so the person who added it may approve", async () => {
  await using dir = await tempDir("loom-provenance-e2e-");
  const home = join(dir.path, "home");
  const draft = join(dir.path, "drafted.yaml");
  await Deno.writeTextFile(draft, agentYaml("https://api.example.com", "ai-generated"));
  const bad = await runLoom(["quarantine", "add", draft, "--submitted-by", "no kind"], { home });
  assert.equal(bad.code, 64, bad.stderr);
  const add = await runLoom(
    ["quarantine", "add", draft, "--submitted-by", "generator:ollama/llama3.1"],
    { home },
  );
  assert.equal(add.code, 0, add.stderr);
  const show = await runLoom(["quarantine", "show", "drafted"], { home });
  assert.match(show.stdout, /submitted by: generator:ollama\/llama3\.1/);
  const approve = await runLoom(["quarantine", "approve", draft], { home });
  assert.equal(approve.code, 0, approve.stderr);
  const [record] = await approvalRecords(home);
  assert.deepEqual(record.submitters, ["generator:ollama/llama3.1"]);
});
