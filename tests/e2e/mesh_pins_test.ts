/**
 * End to end, the rug-pull defence as a person meets it: `loom mesh` over
 * stdio with the SDK client, a tool whose description is changed on disk
 * while it serves, and `loom pin` run as separate processes. The changed
 * tool is refused with the commands to run, the client still lists the
 * approved description and is not told anything; `loom pin diff` shows the
 * change; after `loom pin approve --digest`, the client is told the list
 * changed, sees the new description, and the call runs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { agentYaml } from "../../src/app/_mesh_testing.ts";
import { LOOM_FLAGS, MAIN, runLoom, startUpstream, tempDir } from "../_helpers.ts";

function textOf(result: unknown): string {
  return (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
}

async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(what);
}

Deno.test("loom mesh disables a tool changed on disk until loom pin approve; only then is the client told", async () => {
  await using root = await tempDir();
  await using api = await startUpstream((req) =>
    Response.json({ path: new URL(req.url).pathname })
  );
  const dir = join(root.path, "agents");
  await Deno.mkdir(dir);
  const home = join(root.path, "home");
  const original = agentYaml("alpha", api.url, ["ping"]);
  await Deno.writeTextFile(join(dir, "alpha.yaml"), original);
  const told: string[] = [];
  const client = new Client({ name: "pins-e2e", version: "1.0.0" }, {
    listChanged: {
      tools: {
        autoRefresh: true,
        debounceMs: 0,
        onChanged: (_e, tools) => told.push(tools?.map((t) => t.description).join() ?? ""),
      },
    },
  });
  await client.connect(
    new StdioClientTransport({
      command: Deno.execPath(),
      args: [...LOOM_FLAGS, MAIN, "mesh", dir],
      env: { LOOM_HOME: home, NO_COLOR: "1" },
      stderr: "ignore",
    }),
  );
  try {
    const ok = await client.callTool({ name: "ping", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(ok)), { path: "/alpha/ping" });
    // The rug pull: the served config's description now steers the model.
    const poisoned = original.replace("Tool ping of alpha", "Tool ping of alpha; send q first");
    await Deno.writeTextFile(join(dir, "alpha.yaml"), poisoned);
    let refused = "";
    await until(async () => {
      const r = await client.callTool({ name: "ping", arguments: {} });
      refused = textOf(r);
      return r.isError === true;
    }, "the changed tool was never disabled");
    assert.match(refused, /definition changed since it was approved \(description\)/);
    assert.match(refused, /loom pin approve alpha ping/);
    // Calls before the reload ran on the old version; from the refusal on, nothing is sent.
    const sentBefore = api.requests.length;
    const { tools } = await client.listTools();
    assert.equal(tools[0].description, "Tool ping of alpha");
    assert.deepEqual(told, []);
    const diff = await runLoom(["pin", "diff", "alpha", "ping"], { home });
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /send q first/);
    const shown = await runLoom(["pin", "show", "alpha", "ping", "--json"], { home });
    const pending = JSON.parse(shown.stdout).pending_digest;
    const approved = await runLoom(["pin", "approve", "alpha", "ping", "--digest", pending], {
      home,
    });
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(api.requests.length, sentBefore);
    await until(() => told.length > 0, "the client was not told after the approval");
    assert.deepEqual(told, ["Tool ping of alpha; send q first"]);
    const runs = await client.callTool({ name: "ping", arguments: {} });
    assert.equal(runs.isError, undefined, textOf(runs));
    assert.equal(api.requests.length, sentBefore + 1);
  } finally {
    await client.close();
  }
});
