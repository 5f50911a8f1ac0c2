import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { main, MAIN_HELP } from "./mod.ts";
import { AUDIT_HELP } from "./audit.ts";
import { INIT_HELP, SCHEMA_HELP, VALIDATE_HELP } from "./config_cmds.ts";
import { RUN_HELP } from "./run.ts";
import { SANDBOX_HELP } from "./sandbox.ts";
import { SECRETS_HELP } from "./secrets.ts";
import { memoryIo } from "./_testing.ts";

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo();
  const code = await main(args, io);
  return { code, out: io.stdoutText(), err: io.stderrText() };
}

const HELPS: Record<string, string> = {
  run: RUN_HELP,
  validate: VALIDATE_HELP,
  schema: SCHEMA_HELP,
  init: INIT_HELP,
  audit: AUDIT_HELP,
  secrets: SECRETS_HELP,
  sandbox: SANDBOX_HELP,
};

Deno.test("main() prints the top-level help for --help, and for no command with status 64", async () => {
  assert.deepEqual(await run(["--help"]), { code: 0, out: MAIN_HELP, err: "" });
  assert.deepEqual(await run(["help"]), { code: 0, out: MAIN_HELP, err: "" });
  assert.deepEqual(await run([]), { code: 64, out: MAIN_HELP, err: "" });
});

Deno.test("main() prints each command's help for `help NAME` and `NAME --help`", async () => {
  for (const [name, help] of Object.entries(HELPS)) {
    assert.deepEqual(await run(["help", name]), { code: 0, out: help, err: "" }, name);
    assert.deepEqual(await run([name, "--help"]), { code: 0, out: help, err: "" }, name);
  }
});

Deno.test("main() refuses names inherited from Object.prototype as unknown commands", async () => {
  for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    const result = await run([name]);
    assert.equal(result.code, 64, name);
    assert.equal(result.out, "");
    assert.match(result.err, new RegExp(`^loom: unknown command "${name}"`));
    assert.deepEqual(await run(["help", name]), { code: 0, out: MAIN_HELP, err: "" }, name);
  }
});

Deno.test("main() suggests the nearest command for a typo", async () => {
  const result = await run(["rn"]);
  assert.equal(result.code, 64);
  assert.match(result.err, /unknown command "rn": did you mean "run"\?/);
});

// --- start-up: what `loom` evaluates before it can serve -----------------

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** The modules a program evaluates before its first dynamic import, per `deno info`. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", fileURLToPath(new URL(entry, import.meta.url))],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const byUrl = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = [...info.roots];
  while (queue.length > 0 && seen.size < 10_000) {
    const url = info.redirects[queue[0]] ?? queue[0];
    queue.shift();
    if (seen.has(url)) continue;
    seen.add(url);
    for (const dep of byUrl.get(url)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) queue.push(dep.code.specifier);
    }
  }
  return seen;
}

const COMMAND_MODULES = ["run", "config_cmds", "audit", "secrets", "sandbox"];

Deno.test("main.ts imports no command module up front (each is loaded on demand)", async () => {
  const graph = [...await staticGraph("../../main.ts")];
  for (const name of COMMAND_MODULES) {
    assert.ok(!graph.some((url) => url.endsWith(`/src/cli/${name}.ts`)), name);
  }
  assert.ok(!graph.some((url) => url.includes("/src/runtime/")));
});

Deno.test("`loom run` does not load the MCP SDK", async () => {
  const graph = [...await staticGraph("./run.ts")];
  assert.ok(graph.some((url) => url.endsWith("/src/mcp/engine.ts")));
  const sdk = graph.filter((url) => url.includes("@modelcontextprotocol/sdk"));
  assert.deepEqual(sdk, []);
  assert.ok(!graph.some((url) => url.endsWith("/src/mcp/_sdk.ts")));
});
