/**
 * `agents/daily-ops.yaml` end to end: it validates, and `loom run` serves
 * its composite `daily_briefing` against a fixture Prometheus and a fixture
 * Ollama (real servers on 127.0.0.1 port 0), through the SDK client over
 * stdio; the steps' records carry the briefing's call as `parent`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN, runLoom, tempDir } from "../_helpers.ts";
import { startPrometheus } from "../fixtures/prometheus_server.ts";
import { startOllama } from "../fixtures/ollama_server.ts";

const CONFIG = fileURLToPath(new URL("../../agents/daily-ops.yaml", import.meta.url));

Deno.test("agents/daily-ops.yaml validates", async () => {
  await using home = await tempDir();
  const result = await runLoom(["validate", CONFIG], { home: home.path });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /daily_briefing/);
});

Deno.test("loom run agents/daily-ops.yaml: daily_briefing calls every tool and the LLM summarises", async () => {
  await using root = await tempDir();
  await using prom = await startPrometheus();
  await using ollama = await startOllama();
  const config = join(root.path, "daily-ops.yaml");
  const text = (await Deno.readTextFile(CONFIG))
    .replaceAll("http://127.0.0.1:9090", prom.url)
    .replaceAll("http://127.0.0.1:11434", ollama.url)
    .replace("model: llama3.2\n", "model: llama3.2:3b\n");
  await Deno.writeTextFile(config, text);
  const home = join(root.path, "home");
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  transport.stderr?.on("data", () => {});
  const client = new Client({ name: "daily-ops-e2e", version: "1.0.0" });
  await client.connect(transport);
  try {
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t) => t.name === "daily_briefing"));
    const result = await client.callTool({ name: "daily_briefing", arguments: {} });
    const answer = (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
    assert.equal(result.isError, undefined, answer);
    assert.match(answer, /^echo: Write the daily operations briefing/);
    for (
      const id of [
        "targets",
        "memory_available",
        "memory_total",
        "cpu",
        "disk",
        "load",
        "alerts",
        "models",
        "running",
      ]
    ) {
      assert.match(answer, new RegExp(`\\n- ${id} \\((prom|ollama)_[a-z0-9_]+\\): ok`), answer);
    }
    assert.match(answer, /- summary \(llm llama3\.2:3b\): ok$/);
    assert.equal(prom.requests.length, 7);
  } finally {
    await client.close();
  }
  const records = (await Deno.readTextFile(join(home, "audit", "audit.jsonl"))).trim().split("\n")
    .map((line) => JSON.parse(line));
  const outer = records.find((r) => r.tool === "daily_briefing" && r.phase === "outcome");
  assert.equal(outer?.status, "success");
  const steps = records.filter((r) => r.event === "tool_call" && r.tool?.startsWith("prom_"));
  assert.equal(steps.length, 14);
  assert.ok(steps.every((r) => r.parent === outer.call));
});
