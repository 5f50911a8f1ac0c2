/**
 * End to end: `loom mesh DIR`, the real CLI as a subprocess with real
 * upstreams on loopback. Refusals first (colliding tool names name both
 * files, exit 78; an empty directory, exit 66; HTTP without the token, 401);
 * then the SDK client over stdio (two agents' tools, calls routed to the
 * right upstream, an invalid config left out with its error on stderr),
 * over HTTP with a token in both eras (a session, and a stateless
 * 2026-07-28 request), and a clean stop on SIGTERM and on the end of stdin
 * with no agent host process left behind; over HTTP `/metrics` shows both
 * agents' series and `loom list` shows them running (transport `mesh`), then
 * stopped. The Claude Desktop entry `loom claude-config` prints, launched
 * exactly as printed; last, a broken edit reported and a fixed one reloaded.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Client,
  StdioClientTransport,
  StreamableHTTPClientTransport,
} from "../../src/mcp/client.ts";
import { parseExposition, sampleValue } from "../../src/_util/_testing_metrics.ts";
import { agentYaml, alive } from "../../src/app/_mesh_testing.ts";
import {
  INITIALIZE,
  LOOM_FLAGS,
  loomListJson,
  MAIN,
  runLoom,
  scrapeMetrics,
  startUpstream,
  tempDir,
  type Upstream,
} from "../_helpers.ts";

const MODERN = "2026-07-28";
const TOKEN = "mesh-test-token-0123456789abcdef";
const METRICS_TOKEN = "mesh-metrics-token-fedcba9876543210";

function echoPath(): Promise<Upstream> {
  return startUpstream((req) => Response.json({ path: new URL(req.url).pathname }));
}

/** A mesh directory with agents alpha (`ping`) and beta (`pong`), and one broken config. */
async function meshDir(root: string, url: string): Promise<string> {
  const dir = join(root, "agents");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "alpha.yaml"), agentYaml("alpha", url, ["ping"]));
  await Deno.writeTextFile(join(dir, "beta.yml"), agentYaml("beta", url, ["pong"]));
  await Deno.writeTextFile(join(dir, "broken.yaml"), "agent:\n  name: broken\n  exposes: 3\n");
  return dir;
}

function textOf(result: unknown): string {
  return (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
}

/** The agent host process ids the audit log recorded as spawned. */
async function hostPids(home: string): Promise<number[]> {
  const shown = await runLoom(["audit", "show", "--event", "sandbox_lifecycle", "--json"], {
    home,
  });
  return shown.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .filter((r) => r.action === "spawn").map((r) => r.pid);
}

/** `loom mesh` spawned with piped streams; stderr collected. */
function spawnMesh(args: string[], home: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...LOOM_FLAGS, MAIN, "mesh", ...args],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
    return text;
  })();
  const stdoutDone = child.stdout.pipeTo(new WritableStream()).catch(() => {});
  return { child, stderr: () => text, stderrDone, stdoutDone };
}

async function waitFor(stderr: () => string, pattern: RegExp, ended: Promise<unknown>) {
  let over = false;
  ended.then(() => (over = true));
  for (let i = 0; i < 400 && !over; i++) {
    const m = pattern.exec(stderr());
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = pattern.exec(stderr());
  if (m) return m;
  throw new Error(`loom mesh did not print ${pattern}:\n${stderr()}`);
}

Deno.test("loom mesh refuses colliding tool names with both files named (exit 78)", async () => {
  await using root = await tempDir();
  const dir = join(root.path, "agents");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "one.yaml"), agentYaml("one", "http://127.0.0.1:9", ["get"]));
  await Deno.writeTextFile(join(dir, "two.yaml"), agentYaml("two", "http://127.0.0.1:9", ["get"]));
  const result = await runLoom(["mesh", dir], { home: join(root.path, "home") });
  assert.equal(result.code, 78, result.stderr);
  assert.match(result.stderr, /two\.yaml: tool "get" is also served by \S*one\.yaml/);
});

Deno.test("loom mesh with no config to serve exits 66", async () => {
  await using root = await tempDir();
  const result = await runLoom(["mesh", root.path], { home: join(root.path, "home") });
  assert.equal(result.code, 66, result.stderr);
  assert.match(result.stderr, /No config to serve/);
  const missing = await runLoom(["mesh", join(root.path, "nope")], { home: join(root.path, "h") });
  assert.equal(missing.code, 66, missing.stderr);
});

Deno.test("loom mesh over stdio serves two agents to the SDK client and leaves out a broken config", async () => {
  await using root = await tempDir();
  await using api = await echoPath();
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "mesh", dir],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  let stderr = "";
  const stderrDone = (async () => {
    const stream = transport.stderr as unknown as AsyncIterable<Uint8Array> | null;
    if (stream === null) return;
    const dec = new TextDecoder();
    for await (const chunk of stream) stderr += dec.decode(chunk, { stream: true });
  })();
  const client = new Client({ name: "mesh-e2e", version: "1.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["ping", "pong"]);
    const pong = await client.callTool({ name: "pong", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(pong)), { path: "/beta/pong" });
    const ping = await client.callTool({ name: "ping", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  } finally {
    await client.close();
  }
  await stderrDone;
  assert.match(stderr, /error: \S*broken\.yaml:3:\d+: agent\.exposes/);
  assert.match(stderr, /left out "\S*broken\.yaml"/);
  assert.match(stderr, /serving 2 tool\(s\) of 2 agent\(s\) \(alpha, beta\) over stdio/);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test("loom mesh refuses a metrics token without HTTP, or one that is also a /mcp token (exit 64)", async () => {
  await using root = await tempDir();
  const tokenFile = join(root.path, "token");
  await Deno.writeTextFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const home = join(root.path, "home");
  const stdio = await runLoom(["mesh", root.path, "--metrics-token-file", tokenFile], { home });
  assert.equal(stdio.code, 64, stdio.stderr);
  assert.match(stdio.stderr, /--metrics-token-file needs --transport http/);
  await using api = await echoPath();
  const dir = await meshDir(root.path, api.url);
  const same = await runLoom([
    "mesh",
    dir,
    ...["--transport", "http", "--port", "0", "--token-file", tokenFile],
    ...["--metrics-token-file", tokenFile],
  ], { home });
  assert.equal(same.code, 64, same.stderr);
  assert.match(same.stderr, /must not also be a \/mcp bearer token/);
  assert.ok(!(same.stderr + stdio.stderr).includes(TOKEN));
  // Refused before serving: every agent it registered is marked failed, none left running.
  const rows = await loomListJson(home);
  assert.deepEqual(rows.map((r) => [r.name, r.status]), [["alpha", "failed"], ["beta", "failed"]]);
});

Deno.test("loom mesh over HTTP with a token serves both eras, shows each agent in /metrics and loom list; SIGTERM stops every agent host", async () => {
  await using root = await tempDir();
  await using api = await echoPath();
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const tokenFile = join(root.path, "token");
  await Deno.writeTextFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const metricsTokenFile = join(root.path, "metrics-token");
  await Deno.writeTextFile(metricsTokenFile, `${METRICS_TOKEN}\n`, { mode: 0o600 });
  const mesh = spawnMesh(
    [dir, "--transport", "http", "--port", "0", "--token-file", tokenFile, "--namespace"]
      .concat(["--metrics-token-file", metricsTokenFile]),
    home,
  );
  const url = (await waitFor(mesh.stderr, /listening on (http:\/\/\S+)/, mesh.child.status))[1];
  const post = (body: unknown, headers: Record<string, string>) =>
    fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body: JSON.stringify(body),
    });
  // Without the token: refused.
  const refused = await post({ jsonrpc: "2.0", id: 1, method: "tools/list" }, {});
  await refused.body?.cancel();
  assert.equal(refused.status, 401);

  // A session (2025-11-25) through the SDK client.
  const client = new Client({ name: "mesh-http", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    }),
  );
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["alpha__ping", "beta__pong"]);
    const ping = await client.callTool({ name: "alpha__ping", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  } finally {
    await client.close();
  }

  // A stateless 2026-07-28 request.
  const modern = await post({
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: {
      name: "beta__pong",
      arguments: {},
      _meta: {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": { name: "e2e", version: "1" },
        "io.modelcontextprotocol/clientCapabilities": {},
      },
    },
  }, {
    authorization: `Bearer ${TOKEN}`,
    "mcp-protocol-version": MODERN,
    "mcp-method": "tools/call",
    "mcp-name": "beta__pong",
  });
  const text = await modern.text();
  assert.equal(modern.status, 200, text);
  const data = JSON.parse(text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)![1]);
  assert.deepEqual(JSON.parse(textOf(data.result)), { path: "/beta/pong" });

  // One registry for the process: one call each shows as a series of each agent.
  const scraped = await scrapeMetrics(url, { authorization: `Bearer ${METRICS_TOKEN}` });
  assert.equal(scraped.status, 200, scraped.body);
  const metrics = parseExposition(scraped.body);
  for (const [agent, tool] of [["alpha", "ping"], ["beta", "pong"]]) {
    const labels = { agent, tool, outcome: "success" };
    assert.equal(sampleValue(metrics, "loom_tool_calls_total", labels), 1, agent);
    assert.equal(sampleValue(metrics, "loom_agent_host_up", { agent }), 1, agent);
  }
  assert.ok(sampleValue(metrics, "loom_audit_commit_duration_seconds_count")! > 0);

  // The registry: both agents running in this process, over the mesh; the broken one not there.
  const running = await loomListJson(home);
  assert.deepEqual(running.map((r) => [r.name, r.status, r.transport, r.pid]), [
    ["alpha", "running", "mesh", mesh.child.pid],
    ["beta", "running", "mesh", mesh.child.pid],
  ]);

  // Both agents' host processes run; SIGTERM stops LOOM and every one of them.
  const pids = await hostPids(home);
  assert.equal(pids.length, 2);
  mesh.child.kill("SIGTERM");
  const status = await mesh.child.status;
  await mesh.stdoutDone;
  await mesh.child.stdin.close().catch(() => {});
  const stderr = await mesh.stderrDone;
  assert.equal(status.code, 0, stderr);
  for (const pid of pids) assert.equal(alive(pid), false, `agent host ${pid} was left running`);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const shown = await runLoom(["audit", "show", "--event", "agent_lifecycle", "--json"], { home });
  const lifecycle = shown.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .map((r) => [r.agent, r.action, r.transport]);
  // Agents open in parallel: their start records come in either order.
  assert.deepEqual(lifecycle.filter(([, action]) => action === "start").sort(), [
    ["alpha", "start", "mesh"],
    ["beta", "start", "mesh"],
  ]);
  assert.equal(lifecycle.filter(([, action]) => action === "stop").length, 2);
  const stopped = await loomListJson(home);
  assert.deepEqual(stopped.map((r) => [r.name, r.status, r.recorded_status]), [
    ["alpha", "stopped", "stopped"],
    ["beta", "stopped", "stopped"],
  ]);
});

Deno.test("loom mesh over stdio stops every agent host when stdin ends", async () => {
  await using root = await tempDir();
  await using api = await echoPath();
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const mesh = spawnMesh([dir], home);
  const lines = [
    INITIALIZE,
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "ping", arguments: {} } },
    { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "pong", arguments: {} } },
  ].map((m) => JSON.stringify(m)).join("\n") + "\n";
  const writer = mesh.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(lines));
  await writer.close();
  const status = await mesh.child.status;
  await mesh.stdoutDone;
  const stderr = await mesh.stderrDone;
  assert.equal(status.code, 0, stderr);
  const pids = await hostPids(home);
  assert.equal(pids.length, 2, stderr);
  for (const pid of pids) assert.equal(alive(pid), false, `agent host ${pid} was left running`);
});

Deno.test("loom claude-config prints an entry that, launched as printed, serves the mesh", async () => {
  await using root = await tempDir();
  await using api = await echoPath();
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const printed = await runLoom(["claude-config", dir, "--name", "my-agents"], { home });
  assert.equal(printed.code, 0, printed.stderr);
  const entry = JSON.parse(printed.stdout).mcpServers["my-agents"];
  assert.deepEqual(Object.keys(entry).sort(), ["args", "command", "env"]);
  assert.equal(entry.env.LOOM_HOME, home);
  assert.deepEqual(entry.args.slice(-2), ["mesh", dir]);
  // Exactly that command line, as Claude Desktop would start it.
  const transport = new StdioClientTransport({
    command: entry.command,
    args: entry.args,
    env: entry.env,
    stderr: "ignore",
  });
  const client = new Client({ name: "claude-desktop-like", version: "1.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["ping", "pong"]);
    const pong = await client.callTool({ name: "pong", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(pong)), { path: "/beta/pong" });
  } finally {
    await client.close();
  }
});

Deno.test("loom mesh reports a broken edit on stderr at file:line:column, then reloads the fixed config", async () => {
  await using root = await tempDir();
  await using api = await echoPath();
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const mesh = spawnMesh([dir], home);
  await waitFor(mesh.stderr, /loom: serving/, mesh.child.status);
  await Deno.writeTextFile(join(dir, "alpha.yaml"), "agent:\n  name: alpha\n  exposes: 3\n");
  await waitFor(mesh.stderr, /refused the change to "\S*alpha\.yaml"/, mesh.child.status);
  assert.match(mesh.stderr(), /error: \S*alpha\.yaml:3:\d+: agent\.exposes/);
  await Deno.writeTextFile(join(dir, "alpha.yaml"), agentYaml("alpha", api.url, ["ping", "ping2"]));
  await waitFor(mesh.stderr, /loom: reloaded alpha/, mesh.child.status);
  await mesh.child.stdin.close();
  const status = await mesh.child.status;
  await mesh.stdoutDone;
  assert.equal(status.code, 0, await mesh.stderrDone);
});
