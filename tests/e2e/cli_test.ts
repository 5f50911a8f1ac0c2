/**
 * End to end: the real CLI as a subprocess, spoken to with the MCP SDK client
 * over stdio and streamable HTTP, against real upstreams on 127.0.0.1.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Client,
  StdioClientTransport,
  StreamableHTTPClientTransport,
} from "../../src/mcp/client.ts";
import {
  INITIALIZE,
  initializeRequest,
  jsonLines,
  LOOM_FLAGS,
  MAIN,
  runLoom,
  startLoomHttp,
  startUpstream,
  tempDir,
  toolCall,
  type Upstream,
} from "../_helpers.ts";

function agentYaml(api: Upstream, extra = ""): string {
  return `agent:
  name: e2e-agent
  description: End-to-end test agent
  exposes:
    - name: get_item
      description: Fetch an item by id
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,32}" }
    - name: search
      description: Search items
      parameters:
        q: { type: string }
        limit: { type: integer, required: false, default: 5, maximum: 50 }
  http_bridge:
    - tool_name: get_item
      url: "${api.url}/items/{{id}}"
      response_path: data
    - tool_name: search
      url: "${api.url}/search"
      query_params: { q: q, limit: limit }
${extra}`;
}

function itemsApi(): Promise<Upstream> {
  return startUpstream((req) => {
    const url = new URL(req.url);
    const m = /^\/items\/([^/]+)$/.exec(url.pathname);
    if (m) return Response.json({ data: { id: decodeURIComponent(m[1]), name: "widget" } });
    if (url.pathname === "/search") {
      return Response.json({ q: url.searchParams.get("q"), limit: url.searchParams.get("limit") });
    }
    return new Response("nope", { status: 404 });
  });
}

function textOf(res: Record<string, unknown>): string {
  return (res.content as { text: string }[]).map((c) => c.text).join("");
}

Deno.test("loom run over stdio serves tools to the SDK client through the gate", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: join(dir.path, "home"), NO_COLOR: "1" },
    stderr: "pipe",
  });
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["get_item", "search"]);
    const item = await client.callTool({ name: "get_item", arguments: { id: "abc-1" } });
    assert.equal(item.isError, undefined);
    assert.deepEqual(JSON.parse(textOf(item)), { id: "abc-1", name: "widget" });
    const found = await client.callTool({ name: "search", arguments: { q: "a b&c" } });
    assert.deepEqual(JSON.parse(textOf(found)), { q: "a b&c", limit: "5" });
    const traversal = await client.callTool({ name: "get_item", arguments: { id: "../admin" } });
    assert.equal(traversal.isError, true);
    await assert.rejects(() => client.callTool({ name: "nope", arguments: {} }), /Unknown tool/);
  } finally {
    await client.close();
  }
  const verify = await runLoom(["audit", "verify"], { home: join(dir.path, "home") });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test("loom run over stdio writes only JSON-RPC lines to stdout", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  const lines = [
    INITIALIZE,
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: 2, method: "logging/setLevel", params: { level: "debug" } },
    { jsonrpc: "2.0", id: 3, method: "tools/list" },
    {
      jsonrpc: "2.0",
      id: 4,
      method: "tools/call",
      params: { name: "get_item", arguments: { id: "x1" } },
    },
    {
      jsonrpc: "2.0",
      id: 5,
      method: "tools/call",
      params: { name: "search", arguments: { q: "' OR 1=1 --" } },
    },
    { jsonrpc: "2.0", id: 6, method: "tools/call", params: { name: "search", arguments: {} } },
  ].map((m) => JSON.stringify(m)).join("\n") + "\n{broken json\n";
  const res = await runLoom(["run", config], { home: join(dir.path, "home"), stdin: lines });
  assert.equal(res.code, 0, res.stderr);
  const out = res.stdout.split("\n").filter((l) => l.length > 0);
  // 7 answers, and the debug and info log messages of the call to get_item (level debug).
  assert.equal(out.length, 9, res.stdout);
  const byId = new Map<unknown, Record<string, unknown>>();
  for (const line of out) {
    const msg = JSON.parse(line);
    assert.equal(msg.jsonrpc, "2.0");
    byId.set(msg.id, msg);
  }
  assert.equal((byId.get(null)?.error as { code: number }).code, -32700);
  const sql = byId.get(5)?.result as { isError: boolean };
  assert.equal(sql.isError, true);
  const missing = byId.get(6)?.result as { isError: boolean; content: { text: string }[] };
  assert.equal(missing.isError, true);
  assert.match(missing.content[0].text, /"q"/);
  assert.match(res.stderr, /serving 2 tool/);
});

Deno.test("loom run --transport http binds 127.0.0.1 by default and serves the SDK client", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  const health = await fetch(server.url.replace("/mcp", "/healthz"));
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  try {
    const res = await client.callTool({ name: "search", arguments: { q: "bolts", limit: "7" } });
    assert.deepEqual(JSON.parse(textOf(res)), { q: "bolts", limit: "7" });
    // A JSON-typed client sends a number for the string parameter `q`.
    const typed = await client.callTool({ name: "search", arguments: { q: 1796395230 } });
    assert.equal(typed.isError ?? false, false, textOf(typed));
    assert.equal(JSON.parse(textOf(typed)).q, "1796395230");
  } finally {
    await client.close();
  }
});

Deno.test("loom run refuses a non-loopback bind without a token", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  const res = await runLoom(["run", config, "--transport", "http", "--host", "0.0.0.0"], {
    home: join(dir.path, "home"),
  });
  assert.equal(res.code, 64);
  assert.match(
    res.stderr,
    /Refusing to listen on "0\.0\.0\.0" without a bearer token: pass --token-file FILE or set LOOM_HTTP_TOKEN/,
  );
});

Deno.test("loom validate prints a tool table, and file:line:column errors with exit 78", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const good = join(dir.path, "good.yaml");
  await Deno.writeTextFile(good, agentYaml(api));
  const ok = await runLoom(["validate", good], { home: dir.path });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /get_item\s+read\s+GET/);
  const bad = join(dir.path, "bad.yaml");
  await Deno.writeTextFile(bad, agentYaml(api).replace("description: Fetch", "descripton: Fetch"));
  const res = await runLoom(["validate", bad], { home: dir.path });
  assert.equal(res.code, 78);
  assert.match(
    res.stderr,
    /bad\.yaml:6:7: agent\.exposes\[0\]\.descripton: Unknown key "descripton": did you mean "description"\?/,
  );
});

Deno.test("loom init writes a starter config that validates, and refuses to overwrite", async () => {
  await using dir = await tempDir();
  const first = await runLoom(["init", "my-agent"], { home: dir.path, cwd: dir.path });
  assert.equal(first.code, 0, first.stderr);
  const check = await runLoom(["validate", join(dir.path, "my-agent.yaml")], { home: dir.path });
  assert.equal(check.code, 0, check.stderr);
  const again = await runLoom(["init", "my-agent"], { home: dir.path, cwd: dir.path });
  assert.equal(again.code, 64);
  assert.match(again.stderr, /exists/);
  const badName = await runLoom(["init", "My_Agent"], { home: dir.path, cwd: dir.path });
  assert.equal(badName.code, 64);
});

Deno.test("loom schema prints a JSON Schema for editors", async () => {
  await using dir = await tempDir();
  const res = await runLoom(["schema"], { home: dir.path });
  assert.equal(res.code, 0);
  const schema = JSON.parse(res.stdout);
  assert.match(String(schema.$schema), /2020-12/);
});

Deno.test("loom audit verify names a tampered record and exits 65; show filters by event", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  const session = [
    INITIALIZE,
    {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "get_item", arguments: { id: "a1" } },
    },
    {
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "get_item", arguments: { id: "a2" } },
    },
  ].map((m) => JSON.stringify(m)).join("\n") + "\n";
  assert.equal((await runLoom(["run", config], { home, stdin: session })).code, 0);
  const shown = await runLoom(["audit", "show", "--event", "tool_call", "--json"], { home });
  const recs = shown.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(recs.length, 4);
  assert.ok(recs.every((r) => r.event === "tool_call"));
  const file = join(home, "audit", "audit.jsonl");
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(file, text.replace('"a2"', '"a3"'));
  const res = await runLoom(["audit", "verify"], { home });
  assert.equal(res.code, 65);
  const tampered = recs.find((r) => r.args?.id === "a2");
  assert.match(res.stdout, new RegExp(`modified at seq ${tampered.seq}`));
});

Deno.test("loom repairs a torn audit tail on start and records the repair", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  const init = jsonLines(INITIALIZE);
  assert.equal((await runLoom(["run", config], { home, stdin: init })).code, 0);
  const file = join(home, "audit", "audit.jsonl");
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(file, text.slice(0, text.length - 20)); // tear the last record
  // A crash tears only a record no checkpoint covers yet (checkpoints follow the sync):
  // drop the checkpoints the clean stop wrote, or the cut would be a loss (AUD-10).
  await Deno.writeTextFile(join(home, "audit", "checkpoints.jsonl"), "");
  const torn = await runLoom(["audit", "verify"], { home });
  assert.equal(torn.code, 65);
  assert.match(torn.stdout, /truncated/);
  assert.equal((await runLoom(["run", config], { home, stdin: init })).code, 0);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout);
  const recovery = await runLoom(["audit", "show", "--event", "audit_recovery", "--json"], {
    home,
  });
  const [rec] = recovery.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(rec.action, "recovered_torn_tail");
});

Deno.test("loom with an unknown command exits 64 and suggests the nearest", async () => {
  await using dir = await tempDir();
  const res = await runLoom(["valdate"], { home: dir.path });
  assert.equal(res.code, 64);
  assert.match(res.stderr, /did you mean "validate"/);
});

/** Every character class that can forge, hide or reorder terminal output. */
const HOSTILE = "ok\x1b[2K\rforged line\nseq 1 ok\x1b]8;;https://x.test\x07link\x1b]8;;\x07" +
  "\b\x00\x7f\x85\x9b31m\u202eevil\u202c\u2066iso\u2069\u200e\u200f\u061c\u2028\u2029end\\x1b";
/** Code points that must never reach a terminal raw from a human-readable view. */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

Deno.test("loom audit show and tail escape control and bidi characters of client-supplied fields; --json stays exact", async () => {
  await using dir = await tempDir();
  await using api = await itemsApi();
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api));
  const initialize = initializeRequest({ clientName: HOSTILE });
  const session = jsonLines(initialize, toolCall(2, "search", { q: HOSTILE }));
  assert.equal((await runLoom(["run", config], { home, stdin: session })).code, 0);

  const exact = await runLoom(["audit", "show", "--event", "tool_call", "--json"], { home });
  const records = exact.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(records.length, 2);
  assert.ok(records.every((r) => r.client === HOSTILE), "--json parses back to the stored value");
  assert.equal(records[0].args.q, HOSTILE);
  assert.ok(!UNSAFE.test(exact.stdout), "--json output holds no raw control character");

  for (const args of [["audit", "show"], ["audit", "tail", "-n", "50"]]) {
    const res = await runLoom(args, { home });
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.split("\n").filter((l) => l !== "");
    // One record, one line: the count of lines equals the count of records.
    const all = await runLoom([...args, "--json"], { home });
    assert.equal(lines.length, all.stdout.trim().split("\n").length, args.join(" "));
    for (const line of lines) {
      assert.ok(!UNSAFE.test(line), `${args.join(" ")}: ${JSON.stringify(line)}`);
    }
    const shown = lines.filter((l) => l.includes("tool_call"));
    assert.ok(shown.some((l) => l.includes(String.raw`client=ok\x1b[2K\rforged line\nseq 1 ok`)));
    assert.ok(shown.some((l) => l.includes(String.raw`\u202eevil\u202c\u2066iso\u2069`)));
    assert.ok(
      shown.some((l) => l.includes(String.raw`end\\x1b`)),
      "a literal backslash is doubled",
    );
  }
});

Deno.test("loom prints an unknown command and option values escaped", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const unknown = await runLoom(["nope\x1b[2K\rforged"], { home });
  assert.equal(unknown.code, 64);
  assert.ok(!UNSAFE.test(unknown.stderr), JSON.stringify(unknown.stderr));
  assert.match(unknown.stderr, /nope\\x1b\[2K\\rforged/);
  const event = await runLoom(["audit", "show", "--event", "x\u202eevil\nloom: ok"], { home });
  assert.equal(event.code, 64);
  assert.ok(!UNSAFE.test(event.stderr), JSON.stringify(event.stderr));
  assert.equal(event.stderr.trim().split("\n").length, 1, event.stderr);
});

Deno.test("loom validate exits 66 for a config file that does not exist, like loom run", async () => {
  await using dir = await tempDir();
  const missing = join(dir.path, "missing.yaml");
  const validate = await runLoom(["validate", missing], { home: dir.path });
  assert.equal(validate.code, 66, validate.stderr);
  assert.match(validate.stderr, /no such file/);
  const run = await runLoom(["run", missing], { home: dir.path });
  assert.equal(run.code, 66, run.stderr);
  // A missing file beside an invalid one: the config error (78) wins.
  const bad = join(dir.path, "bad.yaml");
  await Deno.writeTextFile(bad, "agent:\n  nmae: x\n");
  const both = await runLoom(["validate", missing, bad], { home: dir.path });
  assert.equal(both.code, 78, both.stderr);
});

Deno.test("loom names the closest option for an unknown one, in every command", async () => {
  await using dir = await tempDir();
  const cases: [string[], string][] = [
    [["validate", "--quite", "x.yaml"], '"--quiet"'],
    [["run", "x.yaml", "--trasnport", "http"], '"--transport"'],
    [["audit", "show", "--evnt", "x"], '"--event"'],
    [["sandbox", "x.yaml", "--jsno"], '"--json"'],
  ];
  for (const [args, best] of cases) {
    const res = await runLoom(args, { home: dir.path });
    assert.equal(res.code, 64, res.stderr);
    assert.equal(
      res.stderr,
      `loom: Unknown option "${args.find((a) => a.startsWith("--"))}": did you mean ${best}?\n`,
    );
  }
  const far = await runLoom(["run", "x.yaml", "--zzzzzzzz"], { home: dir.path });
  assert.equal(far.code, 64);
  assert.equal(far.stderr, 'loom: Unknown option "--zzzzzzzz"; see --help\n');
});
