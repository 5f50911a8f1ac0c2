/**
 * End to end: the single-file bundle serves the mesh. `deno task bundle`'s
 * build of main.ts is copied alone into an empty directory and started as
 * `deno run <LOOM's permission flags> loom.js mesh DIR` over stdio; the SDK
 * client lists both agents' tools and calls each against a real upstream on
 * loopback, and each call runs in a default-sandbox agent host that is the
 * bundle file itself (nothing else exists to start). The dashboard it serves
 * beside the mesh (`--dashboard`) has its pages and assets inside the bundle.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { buildBundle, LOOM_FLAGS, startUpstream, tempDir } from "../_helpers.ts";

/** A config of agent `name` with one tool, `tool`, that calls `${url}/${name}`. */
function agentYaml(name: string, tool: string, url: string): string {
  return `agent:
  name: ${name}
  exposes:
    - name: ${tool}
      description: Tool ${tool} of ${name}
  http_bridge:
    - tool_name: ${tool}
      url: "${url}/${name}"
`;
}

function textOf(result: unknown): string {
  return (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
}

Deno.test("a bundle copied alone to an empty directory serves loom mesh DIR to the SDK client", async () => {
  await using root = await tempDir("loom-bundle-mesh-");
  const built = join(root.path, "build", "loom.js");
  await buildBundle(built);
  const alone = join(root.path, "alone");
  await Deno.mkdir(alone);
  const entry = join(alone, "loom.js");
  await Deno.copyFile(built, entry);
  await Deno.remove(join(root.path, "build"), { recursive: true });
  assert.deepEqual([...Deno.readDirSync(alone)].map((e) => e.name), ["loom.js"]);

  await using api = await startUpstream((req) =>
    Response.json({ path: new URL(req.url).pathname })
  );
  const agents = join(root.path, "agents");
  await Deno.mkdir(agents);
  await Deno.writeTextFile(join(agents, "alpha.yaml"), agentYaml("alpha", "ping", api.url));
  await Deno.writeTextFile(join(agents, "beta.yml"), agentYaml("beta", "pong", api.url));
  const home = join(root.path, "home");

  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, entry, "mesh", agents, "--dashboard", "--dashboard-port", "0"],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    cwd: alone,
    stderr: "pipe",
  });
  let stderr = "";
  const stderrDone = (async () => {
    const stream = transport.stderr as unknown as AsyncIterable<Uint8Array> | null;
    if (stream === null) return;
    const dec = new TextDecoder();
    for await (const chunk of stream) stderr += dec.decode(chunk, { stream: true });
  })();
  const client = new Client({ name: "bundle-mesh-e2e", version: "1.0.0" });
  await client.connect(transport);
  let hosts: { pid: number; agent: string; detail: string }[] = [];
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["ping", "pong"]);
    const ping = await client.callTool({ name: "ping", arguments: {} });
    assert.equal(ping.isError, undefined, textOf(ping));
    assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha" });
    const pong = await client.callTool({ name: "pong", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(pong)), { path: "/beta" });
    assert.deepEqual(api.requests.map((r) => new URL(r.url).pathname), ["/alpha", "/beta"]);

    // Each call ran in its agent's own host process, and that process is the bundle.
    const log = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
    hosts = log.split("\n").filter((l) => l.includes('"sandbox_lifecycle"'))
      .map((l) => JSON.parse(l)).filter((r) => r.action === "spawn");
    assert.deepEqual(hosts.map((h) => [h.agent, h.detail]), [
      ["alpha", "process"],
      ["beta", "process"],
    ]);
    // The dashboard's pages and assets are inside the bundle too.
    const board = /dashboard at (http:\/\/\S+)/.exec(stderr)?.[1];
    assert.ok(board, stderr);
    const served: [string, RegExp][] = [
      ["login", /text\/html/],
      ["assets/dashboard.css", /text\/css/],
      ["assets/audit.js", /text\/javascript/],
    ];
    for (const [path, type] of served) {
      const res: Response = await fetch(`${board}${path}`);
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", type, path);
    }
    if (Deno.build.os === "linux") {
      for (const { pid } of hosts) {
        const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
        assert.ok(argv.includes(entry) && argv.includes("__agent-process"), argv.join(" "));
      }
    }
  } finally {
    await client.close();
  }
  await stderrDone;
  assert.match(stderr, /serving 2 tool\(s\) of 2 agent\(s\) \(alpha, beta\) over stdio/);
  assert.deepEqual([...Deno.readDirSync(alone)].map((e) => e.name), ["loom.js"]);
});
