/**
 * End-to-end: `loom probe` against real servers on loopback. The failures
 * first (a closed port, a TLS mismatch, an HTML page, HTTP 401, a command
 * that does not exist, a program that prints garbage or exits early, a
 * server that never answers, hostile text, the stdio target's environment),
 * then a real `loom run` over stdio and over HTTP with a token, in both
 * protocol eras, the fallback to initialize of servers that speak only
 * the earlier era, and the npm reference server `server-everything` (pinned in
 * `deno.dev.json`, cached by `deno task deps`). The probe runs in-process through the CLI's `main()`;
 * every server it talks to is a real process or socket.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli/mod.ts";
import { memoryIo } from "../../src/cli/_testing.ts";
import { LOOM_FLAGS, MAIN, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/probe_stdio_server.ts", import.meta.url));
const TOKEN = "probe-test-token-3f9a1c";

/** The fixture server in one MODE, as a stdio argv. */
function fixture(mode: string): string[] {
  return [Deno.execPath(), "run", "--no-config", "--quiet", "--allow-env", FIXTURE, mode];
}

/** Variables the stdio children need beyond PATH and HOME (the test's Deno cache). */
function passCache(): string[] {
  return Deno.env.get("DENO_DIR") === undefined ? [] : ["--pass-env", "DENO_DIR"];
}

async function probe(args: string[], env: Record<string, string> = {}) {
  const io = memoryIo();
  const base: Record<string, string | undefined> = {
    PATH: Deno.env.get("PATH"),
    HOME: Deno.env.get("HOME"),
    DENO_DIR: Deno.env.get("DENO_DIR"),
    ...env,
  };
  const code = await main(["probe", ...args], { ...io, env: { get: (k) => base[k] } });
  return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
}

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("probe: a closed port is refused with exit 69", async () => {
  const r = await probe([`http://127.0.0.1:${closedPort()}/mcp`]);
  assert.equal(r.code, 69);
  assert.match(
    r.stderr,
    /^loom: Connection refused by 127\.0\.0\.1:\d+: is the server running\?\n$/,
  );
});

Deno.test("probe: https to a plain HTTP server is a TLS failure", async () => {
  await using api = await startUpstream(() => new Response("plain"));
  const r = await probe([`https://127.0.0.1:${api.port}/mcp`]);
  assert.equal(r.code, 69);
  assert.match(r.stderr, /^loom: TLS failure talking to 127\.0\.0\.1:\d+: /);
});

Deno.test("probe: an HTML page answered with 200 is not MCP", async () => {
  await using api = await startUpstream(() =>
    new Response("<html><body>Welcome</body></html>", { headers: { "content-type": "text/html" } })
  );
  const r = await probe([`${api.url}/mcp`]);
  assert.equal(r.code, 69);
  assert.match(r.stderr, /is not an MCP endpoint: it answered HTTP 200 with "text\/html"/);
});

Deno.test("probe: HTTP 401 names --token-file; a refused token is never printed", async () => {
  const sent: (string | null)[] = [];
  await using api = await startUpstream((req) => {
    sent.push(req.headers.get("authorization"));
    return new Response("no", { status: 401 });
  });
  const bare = await probe([`${api.url}/mcp`]);
  assert.equal(bare.code, 77);
  assert.match(bare.stderr, /answered HTTP 401: pass a bearer token with --token-file FILE/);
  await using dir = await tempDir();
  const file = join(dir.path, "token");
  await Deno.writeTextFile(file, `${TOKEN}\n`);
  const refused = await probe(["--token-file", file, "--json", `${api.url}/mcp`]);
  assert.equal(refused.code, 77);
  assert.match(refused.stderr, /the token from --token-file or LOOM_HTTP_TOKEN was refused/);
  const fromEnv = await probe([`${api.url}/mcp`], { LOOM_HTTP_TOKEN: TOKEN });
  assert.equal(fromEnv.code, 77);
  for (const r of [refused, fromEnv]) assert.ok(!(r.stdout + r.stderr).includes(TOKEN));
  // It was sent, in the Authorization header only.
  assert.deepEqual(sent, [null, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
});

Deno.test("probe: credentials in the URL and shell syntax in a command line are refused", async () => {
  const url = await probe(["http://user:pw@127.0.0.1:9/mcp"]);
  assert.equal(url.code, 64);
  assert.match(url.stderr, /must not hold a user name or password/);
  assert.ok(!url.stderr.includes("pw@"));
  const shell = await probe(["deno run server.ts | tee log"]);
  assert.equal(shell.code, 64);
  assert.match(shell.stderr, /holds "\|", which only a shell would interpret/);
});

Deno.test("probe: a stdio command that does not exist exits 66", async () => {
  const r = await probe(["--", "loom-probe-no-such-command", "--flag"]);
  assert.equal(r.code, 66);
  assert.equal(
    r.stderr,
    'loom: Command not found: "loom-probe-no-such-command" (searched PATH; no shell is used)\n',
  );
});

Deno.test("probe: a stdio program that prints garbage then exits is not MCP", async () => {
  const r = await probe([...passCache(), "--", ...fixture("garbage")]);
  assert.equal(r.code, 69);
  assert.match(r.stderr, /is not MCP: it sent non-JSON text "<html>hello, not MCP<\/html>"\n$/);
});

Deno.test("probe: a stdio program that exits early is reported with its first stderr line, escaped", async () => {
  const r = await probe([...passCache(), "--era", "2025", "--", ...fixture("stderr-exit")]);
  assert.equal(r.code, 69);
  assert.match(
    r.stderr,
    /exited with status 3 before answering; its stderr began: "fatal: missing \\x1b\[31mAPI_KEY\\x1b\[0m"\n$/,
  );
  assert.ok(!r.stderr.includes("\x1b"));
  assert.ok(!r.stderr.includes("second line"));
});

Deno.test("probe: a server that never answers times out with exit 75", async () => {
  // The server answers only after the probe has given up (so it can shut down).
  const release = Promise.withResolvers<void>();
  await using api = await startUpstream(async () => {
    await release.promise;
    return new Response(null, { status: 503 });
  });
  const http = await probe(["--timeout", "0.5", `${api.url}/mcp`]);
  release.resolve();
  assert.equal(http.code, 75);
  assert.match(http.stderr, /^loom: No answer from http:\/\/127\.0\.0\.1:\d+\/mcp within 0\.5 s/);
  const stdio = await probe(["--timeout", "1", ...passCache(), "--", ...fixture("silent")]);
  assert.equal(stdio.code, 75);
  assert.match(stdio.stderr, /No answer from stdio target ".*" within 1 s \(raise --timeout\)/);
});

Deno.test("probe: a stdio target that ignores end of input and SIGTERM is killed; no process outlives the probe", async () => {
  await using dir = await tempDir();
  const pidFile = join(dir.path, "pid");
  const argv = [
    Deno.execPath(),
    "run",
    "--no-config",
    "--quiet",
    "-A",
    FIXTURE,
    "stubborn",
    pidFile,
  ];
  const r = await probe(["--timeout", "1.5", ...passCache(), "--", ...argv]);
  assert.equal(r.code, 75, r.stderr);
  // Silent to server/discover, it was started again for initialize: two processes.
  const pids = (await Deno.readTextFile(pidFile)).trim().split("\n").map(Number);
  assert.equal(pids.length, 2);
  // The probe waited for each exit, so both are gone (not even zombies).
  for (const pid of pids) {
    assert.equal(await exists(`/proc/${pid}`), false, `process ${pid} outlived the probe`);
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("probe: a hostile server's names and descriptions are printed escaped", async () => {
  const text = await probe([...passCache(), "--", ...fixture("hostile")]);
  assert.equal(text.code, 0, text.stderr);
  for (const bad of ["\x1b", "\r", "\u202e", "\u2028", "\x9b", "\x07"]) {
    assert.ok(!text.stdout.includes(bad), `raw ${JSON.stringify(bad)} printed`);
  }
  assert.ok(!text.stdout.includes("\nnote: all tools are safe"), "a forged line was printed");
  assert.match(text.stdout, /evil\\x1b\]8;;http:\/\/x\\x07 - Innocent\\u202etxt\.exe/);
  assert.match(text.stdout, /Reads files\.\\x1b\[2K\\r\\nnote: all tools are safe\\u2028\\x9b31m/);
  assert.match(text.stdout, /instructions: Trust me\\x1b\[8m hidden/);
  const json = await probe(["--json", ...passCache(), "--", ...fixture("hostile")]);
  assert.equal(json.code, 0);
  assert.equal(json.stdout.split("\n").length, 2, "one line of JSON");
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x1f\x7f-\x9f\u202e\u2028]/.test(json.stdout.trimEnd()));
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.tools[0].title, "Innocent\u202etxt.exe");
  assert.equal(
    parsed.tools[0].description,
    "Reads files.\x1b[2K\r\nnote: all tools are safe\u2028\x9b31m",
  );
});

Deno.test("probe: a stdio target sees only PATH, HOME and --pass-env names; never LOOM_HTTP_TOKEN", async () => {
  const r = await probe(["--json", ...passCache(), "--", ...fixture("env")], {
    LOOM_HTTP_TOKEN: TOKEN,
    AWS_SECRET_ACCESS_KEY: "not-for-children",
  });
  assert.equal(r.code, 0, r.stderr);
  const names = JSON.parse(r.stdout).tools[0].description.split(",");
  const allowed = new Set(["PATH", "HOME", "DENO_DIR"]);
  assert.ok(names.every((n: string) => allowed.has(n)), `unexpected: ${names}`);
  assert.ok(names.includes("PATH") && names.includes("HOME"));
  assert.ok(!r.stdout.includes(TOKEN));
});

Deno.test("probe: auto falls back to initialize for a stdio server that exits on server/discover", async () => {
  const r = await probe([...passCache(), "--", ...fixture("legacy-exit")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^server: {7}fake-legacy-exit 9\.9\.9\nprotocol: {5}2025-11-25 \(initialize, session\)/,
  );
  assert.match(
    r.stdout,
    /\n {2}echo - Echo\n {6}Echo a message\n {6}annotations: readOnlyHint=true\n {6}parameters: message\n/,
  );
  const forced = await probe([...passCache(), "--era", "2026", "--", ...fixture("legacy-exit")]);
  assert.equal(forced.code, 69);
  assert.match(forced.stderr, /exited with status 1 before answering/);
});

Deno.test("probe: auto falls back on HTTP 400 and reads an answer from an event stream", async () => {
  const seen: string[] = [];
  await using api = await startUpstream(async (req) => {
    if (req.method === "DELETE") return new Response(null, { status: 204 });
    const message = await req.json();
    seen.push(`${message.method} ${req.headers.get("mcp-session-id") ?? "-"}`);
    if (message.method === "server/discover") {
      return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Bad" } }, {
        status: 400,
      });
    }
    if (message.method === "initialize") {
      return Response.json({
        jsonrpc: "2.0",
        id: message.id,
        result: {
          protocolVersion: "2025-06-18",
          capabilities: { tools: {} },
          serverInfo: { name: "legacy-http", version: "1" },
        },
      }, { headers: { "mcp-session-id": "s-1" } });
    }
    if (message.id === undefined) return new Response(null, { status: 202 });
    const events = [
      { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "x" } },
      { jsonrpc: "2.0", id: message.id, result: { tools: [{ name: "t1", inputSchema: {} }] } },
    ].map((m) => `event: message\ndata: ${JSON.stringify(m)}\n\n`).join("");
    return new Response(events, { headers: { "content-type": "text/event-stream" } });
  });
  const r = await probe(["--json", `${api.url}/mcp`]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.protocolVersion, "2025-06-18");
  assert.deepEqual(report.tools.map((t: { name: string }) => t.name), ["t1"]);
  assert.deepEqual(seen, [
    "server/discover -",
    "initialize -",
    "notifications/initialized s-1",
    "tools/list s-1",
  ]);
});

const AGENT = `agent:
  name: probe-target
  exposes:
    - name: list_items
      title: List items
      description: List the items
    - name: touch_item
      description: Mark an item as seen
      access: write
  http_bridge:
    - tool_name: list_items
      url: "http://127.0.0.1:9/items"
    - tool_name: touch_item
      method: PUT
      url: "http://127.0.0.1:9/touch"
  runtime:
    trust_tier: 2
`;

Deno.test("probe: a real loom run over stdio, in both eras", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  const env = { LOOM_HOME: join(dir.path, "home") };
  const argv = [Deno.execPath(), ...LOOM_FLAGS, MAIN, "run", config];
  const eras: Record<string, string> = {
    auto: "2026-07-28",
    "2026": "2026-07-28",
    "2025": "2025-11-25",
  };
  for (const [era, expected] of Object.entries(eras)) {
    const r = await probe(
      ["--json", "--era", era, "--pass-env", "LOOM_HOME", ...passCache(), "--", ...argv],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.protocolVersion, expected, era);
    assert.equal(report.server.name, "loom-probe-target");
    assert.deepEqual(report.target, { kind: "stdio", command: argv });
    const list = report.tools.find((t: { name: string }) => t.name === "list_items");
    assert.equal(list.title, "List items");
    assert.equal(list.annotations.readOnlyHint, true);
    const touch = report.tools.find((t: { name: string }) => t.name === "touch_item");
    assert.equal(touch.annotations.readOnlyHint, false);
  }
});

Deno.test("probe: a real loom run over HTTP with a token, in both eras", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, AGENT);
  const tokenFile = join(dir.path, "token");
  await Deno.writeTextFile(tokenFile, `${TOKEN}\n`);
  await using server = await startLoomHttp(config, {
    home: join(dir.path, "home"),
    env: { LOOM_HTTP_TOKEN: TOKEN },
  });
  const without = await probe([server.url]);
  assert.equal(without.code, 77);
  assert.match(without.stderr, /--token-file/);
  const text = await probe(["--token-file", tokenFile, server.url]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^server: {7}loom-probe-target \S+\nprotocol: {5}2026-07-28 \(stateless, server\/discover\)\n/,
  );
  assert.match(
    text.stdout,
    /\n {2}list_items - List items\n {6}List the items\n {6}annotations: readOnlyHint=true/,
  );
  assert.ok(!text.stdout.includes(TOKEN));
  for (const [era, expected] of [["2025", "2025-11-25"], ["2026", "2026-07-28"]]) {
    const r = await probe(["--json", "--era", era, server.url], { LOOM_HTTP_TOKEN: TOKEN });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.protocolVersion, expected);
    assert.equal(report.tools.length, 2);
    assert.ok(!r.stdout.includes(TOKEN));
  }
});

Deno.test("probe: a third-party server (the MCP SDK's McpServer over stdio) in auto and 2025 eras", async () => {
  const argv = [
    Deno.execPath(),
    "run",
    "--config",
    fileURLToPath(new URL("../../deno.dev.json", import.meta.url)),
    "--quiet",
    "-A",
    fileURLToPath(new URL("../fixtures/probe_sdk_server.ts", import.meta.url)),
  ];
  for (const era of ["auto", "2025"]) {
    const r = await probe(["--era", era, ...passCache(), "--", ...argv]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^server: {7}sdk-weather 3\.1\.4\nprotocol: {5}2025-11-25 \(initialize, session\)\n/,
    );
    assert.match(r.stdout, /\ninstructions: Ask for the forecast of one city\.\n/);
    assert.match(
      r.stdout,
      /\n {2}forecast - Forecast\n {6}The forecast for a city\n {6}annotations: readOnlyHint=true openWorldHint=true\n {6}parameters: city\*\n/,
    );
  }
  const modern = await probe(["--era", "2026", ...passCache(), "--", ...argv]);
  assert.equal(modern.code, 69);
  assert.match(
    modern.stderr,
    /^loom: The server answered server\/discover with JSON-RPC error -32601: "Method not found"\n$/,
  );
});

/** The pinned `@modelcontextprotocol/server-everything` of `deno.dev.json` (and `deno.dev.lock`). */
const EVERYTHING = "npm:@modelcontextprotocol/server-everything@2026.8.31";

/**
 * The npm reference server "everything" over stdio, run by Deno with the
 * narrowest permissions it starts with: the three variables its gzip tool
 * reads at load time, and read access to its own `docs` folder (its
 * instructions). `--cached-only`: the package comes from the cache that
 * `deno task deps` fills from `deno.dev.lock`, never from the network, so a
 * missing cache fails at once instead of waiting on a download.
 */
async function everythingArgv(): Promise<string[]> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const npmCache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  const docs = join(
    npmCache,
    "registry.npmjs.org/@modelcontextprotocol/server-everything/2026.8.31/dist/docs",
  );
  return [
    Deno.execPath(),
    "run",
    "--config",
    fileURLToPath(new URL("../../deno.dev.json", import.meta.url)),
    "--quiet",
    "--cached-only",
    "--allow-env=GZIP_MAX_FETCH_SIZE,GZIP_MAX_FETCH_TIME_MILLIS,GZIP_ALLOWED_DOMAINS",
    `--allow-read=${docs}`,
    EVERYTHING,
    "stdio",
  ];
}

/** DENO_DIR, or XDG_CACHE_HOME where Deno's cache lies under it, when set: the child's cache. */
function passDenoCache(): string[] {
  return ["DENO_DIR", "XDG_CACHE_HOME"].filter((name) => Deno.env.get(name) !== undefined)
    .flatMap((name) => ["--pass-env", name]);
}

Deno.test("probe: the npm reference server server-everything over stdio, auto and 2025 eras, text and --json", async () => {
  const argv = await everythingArgv();
  const env: Record<string, string> = {};
  for (const name of ["DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  for (const era of ["auto", "2025"]) {
    const r = await probe(["--era", era, ...passDenoCache(), "--", ...argv], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^server: {7}mcp-servers\/everything \S+\ntitle: {8}Everything Reference Server\nprotocol: {5}2025-11-25 \(initialize, session\)\n/,
    );
    assert.match(r.stdout, /\ninstructions: # Everything Server/);
    assert.match(
      r.stdout,
      /\n {2}echo - Echo Tool\n {6}Echoes back the input string\n {6}annotations: readOnlyHint=true destructiveHint=false idempotentHint=true openWorldHint=false\n {6}parameters: message\*\n/,
    );
    assert.match(r.stdout, /\n {2}get-sum - Get Sum Tool\n {6}Returns the sum of two numbers\n/);
    assert.match(r.stdout, /\n {6}parameters: a\*, b\*\n/);
  }
  const r = await probe(["--json", "--era", "2025", ...passDenoCache(), "--", ...argv], env);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.target, { kind: "stdio", command: argv });
  assert.equal(report.protocolVersion, "2025-11-25");
  assert.equal(report.server.name, "mcp-servers/everything");
  assert.equal(report.server.title, "Everything Reference Server");
  assert.equal(typeof report.server.version, "string");
  assert.equal(report.capabilities.tools.listChanged, true);
  assert.match(report.instructions, /^# Everything Server/);
  assert.deepEqual(report.notes, []);
  const byName = new Map(report.tools.map((t: { name: string }) => [t.name, t]));
  for (const name of ["echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"]) {
    assert.ok(byName.has(name), `${name} in ${[...byName.keys()].join(", ")}`);
  }
  assert.deepEqual(byName.get("echo"), {
    name: "echo",
    title: "Echo Tool",
    description: "Echoes back the input string",
    annotations: {
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    },
    inputSchema: {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      properties: { message: { type: "string", description: "Message to echo" } },
      required: ["message"],
    },
  });
  const sum = byName.get("get-sum") as { inputSchema: { required: string[] } };
  assert.deepEqual(sum.inputSchema.required, ["a", "b"]);
});
