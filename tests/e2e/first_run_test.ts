/**
 * End to end: the ways a new user runs LOOM. `deno task loom` and the
 * installed `loom` command resolve relative paths where the user stands; a
 * bundle copied alone to an empty directory makes tool calls through its
 * default sandbox; running LOOM loads only the runtime's packages; and a
 * package that cannot be fetched is one line on stderr.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  INITIALIZE,
  jsonLines,
  LOOM_FLAGS,
  MAIN,
  runLoom,
  startUpstream,
  tempDir,
  toolCall,
} from "../_helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CONFIG = join(ROOT, "deno.json");
const dec = new TextDecoder();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Ran> {
  // deno task keeps an INIT_CWD it inherits (as npm run does), and this test
  // may itself run under deno task: each run starts from a clean one.
  const inherited = Deno.env.toObject();
  delete inherited.INIT_CWD;
  const out = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("deno task loom resolves relative paths against the directory it is run from", async () => {
  await using dir = await tempDir();
  const env = { LOOM_HOME: join(dir.path, "home") };
  const task = ["task", "--quiet", "--config", CONFIG, "loom"];
  const init = await run(Deno.execPath(), [...task, "init", "first-run", "--output", "x.yaml"], {
    cwd: dir.path,
    env,
  });
  assert.equal(init.code, 0, init.stderr);
  assert.ok(await exists(join(dir.path, "x.yaml")), "written where the user stands");
  assert.ok(!(await exists(join(ROOT, "x.yaml"))), "not written into the checkout");
  const validate = await run(Deno.execPath(), [...task, "validate", "x.yaml"], {
    cwd: dir.path,
    env,
  });
  assert.equal(validate.code, 0, validate.stderr);
  assert.match(validate.stdout, /search_items/);
});

Deno.test("loom --cwd names a missing directory with exit status 66", async () => {
  await using dir = await tempDir();
  const res = await runLoom(["--cwd", join(dir.path, "nope"), "validate", "x.yaml"], {
    home: dir.path,
  });
  assert.equal(res.code, 66);
  assert.match(res.stderr, /^loom: cannot work in ".*nope": no such directory\n$/);
});

Deno.test("deno task install gives a loom command with exactly LOOM's permissions", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "root");
  const work = join(dir.path, "work");
  await Deno.mkdir(work);
  const path = `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`;
  const install = await run(Deno.execPath(), ["task", "--quiet", "install"], {
    cwd: ROOT,
    env: { DENO_INSTALL_ROOT: root, PATH: path, HOME: dir.path },
  });
  assert.equal(install.code, 0, install.stderr);
  const loom = join(root, "bin", "loom");
  const shim = await Deno.readTextFile(loom);
  for (const flag of LOOM_FLAGS.slice(1)) assert.ok(shim.includes(` ${flag} `), flag);
  assert.ok(!/ (-A|--allow-all|--allow-ffi|--allow-sys)\b/.test(shim), shim);

  const env = { LOOM_HOME: join(dir.path, "home"), PATH: path, HOME: dir.path };
  const init = await run(loom, ["init", "installed", "--output", "y.yaml"], { cwd: work, env });
  assert.equal(init.code, 0, init.stderr);
  assert.ok(await exists(join(work, "y.yaml")));
  const validate = await run(loom, ["validate", "y.yaml"], { cwd: work, env });
  assert.equal(validate.code, 0, validate.stderr);
});

Deno.test("a bundle copied alone to an empty directory makes tool calls in its default sandbox", async () => {
  await using dir = await tempDir();
  const built = join(dir.path, "build", "loom.js");
  const bundle = await run(Deno.execPath(), ["bundle", "--quiet", "--output", built, MAIN], {
    cwd: ROOT,
  });
  assert.equal(bundle.code, 0, bundle.stderr);
  const alone = join(dir.path, "alone");
  await Deno.mkdir(alone);
  const entry = join(alone, "loom.js");
  await Deno.copyFile(built, entry);
  await Deno.remove(join(dir.path, "build"), { recursive: true });
  assert.deepEqual([...Deno.readDirSync(alone)].map((e) => e.name), ["loom.js"]);

  await using api = await startUpstream((req) =>
    Response.json({
      path: new URL(req.url).pathname,
      city: new URL(req.url).searchParams.get("city"),
    })
  );
  const config = join(dir.path, "bundled.yaml");
  await Deno.writeTextFile(
    config,
    `agent:
  name: bundled-agent
  exposes:
    - name: weather
      description: Current weather for a city
      parameters:
        city: { type: string, pattern: "[A-Za-z ]{1,40}" }
  http_bridge:
    - tool_name: weather
      url: "${api.url}/weather"
      query_params: { city: city }
`,
  );
  const home = join(dir.path, "home");
  const session = jsonLines(INITIALIZE, toolCall(2, "weather", { city: "Oslo" }));
  const res = await runLoom(["run", config], { home, stdin: session, entry, cwd: alone });
  assert.equal(res.code, 0, res.stderr);
  const line = res.stdout.split("\n").find((l) => l.includes('"id":2'));
  assert.ok(line, res.stdout + res.stderr);
  const result = JSON.parse(line).result;
  assert.equal(result.isError, undefined, result.content?.[0]?.text);
  assert.match(result.content[0].text, /"city":\s*"Oslo"/);
  assert.equal(api.requests.length, 1);

  const log = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  const spawns = log.split("\n").filter((l) => l.includes('"sandbox_lifecycle"'));
  assert.ok(spawns.some((l) => l.includes('"spawn"')), "the call ran in a sandboxed process");

  const sandbox = await runLoom(["sandbox", config, "--json"], { home, entry, cwd: alone });
  assert.equal(sandbox.code, 0, sandbox.stderr);
  const report = JSON.parse(sandbox.stdout);
  assert.deepEqual(report.deno.args.slice(-2), [entry, "__agent-process"]);
  assert.ok(report.docker.args.includes(`--volume=${entry}:/loom/loom.js:ro`), sandbox.stdout);
  assert.deepEqual(report.docker.args.slice(-2), ["/loom/loom.js", "__agent-process"]);
  assert.ok(!sandbox.stdout.includes("agent_main.ts"), sandbox.stdout);
});

Deno.test("running LOOM loads only the runtime's npm packages", async () => {
  const info = await run(Deno.execPath(), ["info", "--json", MAIN], { cwd: ROOT });
  assert.equal(info.code, 0, info.stderr);
  const graph = JSON.parse(info.stdout) as { npmPackages: Record<string, unknown> };
  const names = Object.keys(graph.npmPackages).map((id) => id.slice(0, id.lastIndexOf("@")));
  assert.deepEqual(names.sort(), ["@cfworker/json-schema", "hono", "jose", "yaml", "zod"]);

  const lock = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.lock")));
  const locked = Object.keys(lock.npm).map((id) => id.slice(0, id.lastIndexOf("@")));
  assert.deepEqual(locked.sort(), ["@cfworker/json-schema", "hono", "jose", "yaml", "zod"]);

  // The tests' and bench's config extends the runtime's, and agrees with it.
  const runtime = JSON.parse(await Deno.readTextFile(CONFIG));
  const dev = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.dev.json")));
  for (const [name, target] of Object.entries(runtime.imports)) {
    assert.equal(dev.imports[name], target, name);
  }
  assert.deepEqual(dev.compilerOptions, runtime.compilerOptions);
  assert.equal(dev.nodeModulesDir, runtime.nodeModulesDir);
});

Deno.test("a package that cannot be fetched is one line on stderr, exit status 69", async () => {
  await using dir = await tempDir();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const res = await run(Deno.execPath(), [...LOOM_FLAGS, MAIN, "validate", "x.yaml"], {
    cwd: dir.path,
    env: {
      DENO_DIR: join(dir.path, "deno-dir"),
      NPM_CONFIG_REGISTRY: `http://127.0.0.1:${port}/`,
      HOME: dir.path,
    },
  });
  assert.equal(res.code, 69, res.stderr);
  const ours = res.stderr.split("\n").filter((l) => !/^Download /.test(l) && l !== "");
  assert.equal(ours.length, 1, res.stderr);
  assert.match(
    ours[0],
    /^loom: cannot load LOOM: Failed caching npm package '(@cfworker\/json-schema|hono|jose|yaml|zod)@[0-9.]+': .*Connection refused.*; run "deno install"/,
  );
});
