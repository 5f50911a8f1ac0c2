/**
 * End to end: `agents/vram-orchestrator.yaml` served by `loom run` (a
 * subprocess, over stdio, with the SDK client) against the fixture Ollama
 * server: the read tools answer, a small model loads, a 27b load and every
 * unload are held with a pending approval, and held calls never reach Ollama.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN, runLoom, tempDir } from "../_helpers.ts";
import { startOllama } from "../fixtures/ollama_server.ts";

const CONFIG = new URL("../../agents/vram-orchestrator.yaml", import.meta.url);

function textOf(result: unknown): string {
  return (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
}

Deno.test("vram-orchestrator: reads answer, a small model loads, 27b loads and unloads are held", async () => {
  await using ollama = await startOllama();
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "vram-orchestrator.yaml");
  const text = await Deno.readTextFile(CONFIG);
  assert.ok(text.includes("http://127.0.0.1:11434/"));
  await Deno.writeTextFile(config, text.replaceAll("http://127.0.0.1:11434", ollama.url));

  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      "generate",
      "list_models",
      "load_model",
      "model_info",
      "running_models",
      "unload_model",
    ]);

    const list = await client.callTool({ name: "list_models", arguments: {} });
    assert.equal(list.isError, undefined, textOf(list));
    const models = JSON.parse(textOf(list));
    assert.deepEqual(models.map((m: { name: string }) => m.name), ["llama3.2:3b", "gemma3:27b"]);

    const info = await client.callTool({ name: "model_info", arguments: { model: "llama3.2:3b" } });
    assert.equal(info.isError, undefined, textOf(info));
    // /api/show carries the model's chat template tokens: the output scan fences it as data.
    assert.match(textOf(info), /"family":"llama"/);
    assert.match(textOf(info), /LOOM output scan: .*prompt-chat-template-token/);

    const big = await client.callTool({ name: "load_model", arguments: { model: "gemma3:27b" } });
    assert.equal(big.isError, true);
    assert.match(textOf(big), /held for review by rule "large-model-load"/);
    assert.match(textOf(big), /Approval [0-9a-f]{16} is pending/);
    const bigGen = await client.callTool({
      name: "generate",
      arguments: { model: "GEMMA3:27B", prompt: "hi" },
    });
    assert.match(textOf(bigGen), /held for review by rule "large-model-generate"/);
    const unload = await client.callTool({
      name: "unload_model",
      arguments: { model: "llama3.2:3b" },
    });
    assert.equal(unload.isError, true);
    assert.match(textOf(unload), /held for review by rule "any-unload"/);
    assert.ok(
      !ollama.requests.some((r) => r.path === "/api/generate"),
      "no held call reached Ollama",
    );

    const small = await client.callTool({
      name: "load_model",
      arguments: { model: "llama3.2:3b" },
    });
    assert.equal(small.isError, undefined, textOf(small));
    assert.equal(JSON.parse(textOf(small)).done_reason, "load");
    const sent = ollama.requests.filter((r) => r.path === "/api/generate");
    assert.deepEqual(sent.map((r) => r.body), [{ model: "llama3.2:3b", keep_alive: "5m" }]);

    const running = await client.callTool({ name: "running_models", arguments: {} });
    assert.equal(running.isError, undefined, textOf(running));
    assert.deepEqual(JSON.parse(textOf(running)).map((m: { name: string }) => m.name), [
      "llama3.2:3b",
    ]);

    const gen = await client.callTool({
      name: "generate",
      arguments: { model: "llama3.2:3b", prompt: "say hi" },
    });
    assert.equal(JSON.parse(textOf(gen)), "echo: say hi");
  } finally {
    await client.close();
  }

  const listed = await runLoom(["approvals", "list", "--json"], { home });
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as Record<string, unknown>[];
  assert.deepEqual(rows.map((r) => [r.tool, r.status]).sort(), [
    ["generate", "pending"],
    ["load_model", "pending"],
    ["unload_model", "pending"],
  ]);
});
