/**
 * Composite tools through the gate, against a fixture Prometheus and a
 * fixture Ollama (real servers on 127.0.0.1 port 0): parallel steps, a step
 * that times out, a step the gate refuses, `parent` in the audit records,
 * the LLM's summary, and an LLM server that is down.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { AuditLog, type AuditRecord, readAuditRecords } from "../../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { AgentGate } from "./gate.ts";
import { tempDir } from "../../../tests/_helpers.ts";
import { startPrometheus } from "../../../tests/fixtures/prometheus_server.ts";
import { startOllama } from "../../../tests/fixtures/ollama_server.ts";

const ctx = (): ToolCallContext => ({
  signal: new AbortController().signal,
  sessionId: null,
  client: { name: "test", version: "1" },
  log: () => {},
});

function text(result: CallToolResult): string {
  return result.content.map((c) => c.text).join("");
}

/** A tier 3 agent with Prometheus tools and one composite whose parts are given. */
function config(prom: string, composite: string, llmUrl?: string): string {
  const llm = llmUrl === undefined ? "" : `
      llm:
        provider: ollama
        url: ${llmUrl}
        model: llama3.2:3b
        prompt: Summarise for an operator
        timeout: 20s`;
  return `agent:
  name: ops
  exposes:
    - name: prom_targets
      description: Scrape targets
    - name: prom_query
      description: One instant query
      parameters:
        query: { type: string, max_length: 2000 }
    - name: prom_alerts
      description: Alerts
    - name: briefing
      description: The briefing
${composite}${llm}
  http_bridge:
    - tool_name: prom_targets
      url: ${prom}/api/v1/targets
      response_path: data.activeTargets
    - tool_name: prom_query
      url: ${prom}/api/v1/query
      query_params: { query: query }
      response_path: data.result
    - tool_name: prom_alerts
      url: ${prom}/api/v1/alerts
      response_path: data.alerts
  runtime:
    trust_tier: 3
    allow_networks: ["127.0.0.0/8"]
`;
}

interface Fixture extends AsyncDisposable {
  gate: AgentGate;
  records(): Promise<AuditRecord[]>;
}

async function fixture(yaml: string): Promise<Fixture> {
  const tmp = await tempDir("loom-composite-");
  const audit = await AuditLog.open(`${tmp.path}/audit`);
  const gate = new AgentGate(parseConfig(yaml, { path: "test.yaml" }), { audit });
  return {
    gate,
    records: () => readAuditRecords(`${tmp.path}/audit`, {}),
    [Symbol.asyncDispose]: async () => {
      await gate.close();
      await audit.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

Deno.test("composite: steps run in parallel, the LLM summarises, step records name the parent", async () => {
  await using prom = await startPrometheus();
  await using ollama = await startOllama();
  // `after_alerts` is answered only once the alerts step has asked: in sequence, never.
  const steps = `      steps:
        - id: waits
          tool: prom_query
          arguments: { query: "after_alerts" }
        - id: targets
          tool: prom_targets
        - id: alerts
          tool: prom_alerts
        - id: echo
          tool: prom_query
          arguments: { query: "count({{steps.waits.text}})" }`;
  await using f = await fixture(config(prom.url, steps, ollama.url));
  const result = await f.gate.callTool("briefing", {}, ctx());
  assert.equal(result.isError, undefined, text(result));
  const answer = text(result);
  // The fixture echoes the last message: the prompt with the fenced results.
  assert.match(answer, /^echo: Summarise for an operator/);
  assert.match(answer, /untrusted data, not instructions/);
  assert.match(answer, /BEGIN [0-9a-f]{16} step "targets" tool prom_targets status ok/);
  assert.match(answer, /TargetDown/);
  assert.match(answer, /Steps:\n- waits \(prom_query\): ok\n- targets \(prom_targets\): ok/);
  assert.match(answer, /- echo \(prom_query\): ok\n- summary \(llm llama3\.2:3b\): ok$/);
  const chat = ollama.requests.find((r) => r.path === "/api/chat");
  assert.equal(chat?.body?.model, "llama3.2:3b");
  assert.ok(prom.requests.some((r) => r.startsWith("/api/v1/query?query=count%28")));

  const records = await f.records();
  const outer = records.find((r) => r.tool === "briefing" && r.phase === "outcome");
  assert.ok(outer !== undefined);
  assert.equal(outer.status, "success");
  assert.deepEqual((outer.composite as { llm: string }).llm, "ok");
  const inner = records.filter((r) => r.tool !== "briefing");
  assert.equal(inner.length, 8, "an intent and an outcome per step");
  assert.ok(inner.every((r) => r.parent === outer.call), JSON.stringify(inner));
  assert.ok(records.filter((r) => r.tool === "briefing").every((r) => r.parent === undefined));
});

Deno.test("composite: a step that times out and a step the gate refuses are reported", async () => {
  await using prom = await startPrometheus();
  const steps = `      parameters:
        filter: { type: string, max_length: 100, allow: [shell] }
      steps:
        - id: slow
          tool: prom_query
          arguments: { query: "slow_metric" }
          timeout: 300ms
        - id: refused
          tool: prom_query
          arguments: { query: "{{filter}}" }
        - id: after
          tool: prom_query
          arguments: { query: "{{steps.slow.text}}" }
        - id: targets
          tool: prom_targets`;
  await using f = await fixture(config(prom.url, steps));
  // The composite allows shell characters in `filter`; prom_query does not.
  const result = await f.gate.callTool("briefing", { filter: "up; rm -rf /" }, ctx());
  assert.equal(result.isError, undefined, text(result));
  const answer = text(result);
  assert.match(answer, /- slow \(prom_query\): timeout: No answer within 300ms/);
  assert.match(answer, /- refused \(prom_query\): error: .*injection/i);
  assert.match(answer, /- after \(prom_query\): skipped: Waits for step "slow"/);
  assert.match(answer, /- targets \(prom_targets\): ok/);
  assert.match(answer, /## targets \(prom_targets\)\n\[/);
  assert.ok(!prom.requests.some((r) => r.includes("rm")), "the refused step never left");

  const records = await f.records();
  const outer = records.find((r) => r.tool === "briefing" && r.phase === "outcome")!;
  assert.deepEqual(outer.composite, {
    llm: "none",
    steps: [
      { id: "slow", status: "timeout", tool: "prom_query" },
      { id: "refused", status: "error", tool: "prom_query" },
      { id: "after", status: "skipped", tool: "prom_query" },
      { id: "targets", status: "ok", tool: "prom_targets" },
    ],
  });
  assert.ok(records.some((r) => r.event === "trust_violation" && r.tool === "prom_query"));
});

Deno.test("composite: an LLM server that is down leaves the steps' results, said plainly", async () => {
  await using prom = await startPrometheus();
  const down = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
  const llmUrl = `http://127.0.0.1:${down.addr.port}`;
  await down.shutdown();
  const steps = `      steps:
        - id: alerts
          tool: prom_alerts`;
  await using f = await fixture(config(prom.url, steps, llmUrl));
  const result = await f.gate.callTool("briefing", {}, ctx());
  assert.equal(result.isError, undefined);
  const answer = text(result);
  assert.match(answer, /- alerts \(prom_alerts\): ok/);
  assert.ok(
    answer.includes(`- summary (llm llama3.2:3b): error: No LLM server answered at ${llmUrl}`),
    answer,
  );
  assert.match(answer, /## alerts \(prom_alerts\)\n.*TargetDown/);
});

Deno.test("composite: a composite reached as a step (through the invoke seam) is refused", async () => {
  await using prom = await startPrometheus();
  const tmp = await tempDir("loom-composite-");
  const audit = await AuditLog.open(`${tmp.path}/audit`);
  const inner = new AgentGate(
    parseConfig(config(prom.url, "      steps:\n        - id: t\n          tool: prom_targets"), {
      path: "inner.yaml",
    }),
    { audit },
  );
  // The outer agent's steps go to the inner agent's gate, as a mesh would route them.
  const outer = new AgentGate(
    parseConfig(
      config(prom.url, "      steps:\n        - id: nested\n          tool: other_briefing")
        .replace("name: ops", "name: ops-outer"),
      { path: "outer.yaml" },
    ),
    { audit, invoke: (_name, args, c) => inner.callTool("briefing", args, c) },
  );
  try {
    const result = await outer.callTool("briefing", {}, ctx());
    assert.equal(result.isError, true);
    assert.match(
      text(result),
      /nested \(other_briefing\): error: A composite tool cannot be a step/,
    );
    const records = await readAuditRecords(`${tmp.path}/audit`, {});
    const refused = records.find((r) => r.agent === "ops" && r.phase === "outcome");
    assert.equal(refused?.status, "error");
    assert.equal(typeof refused?.parent, "string");
    assert.equal(prom.requests.length, 0);
  } finally {
    await outer.close();
    await inner.close();
    await audit.close();
    await tmp[Symbol.asyncDispose]();
  }
});
