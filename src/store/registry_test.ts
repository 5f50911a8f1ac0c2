import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { parseConfig } from "../config/mod.ts";
import { tempDir } from "../../tests/_helpers.ts";
import { type LoomHome, resolveHome } from "./home.ts";
import { openStore } from "./db.ts";
import { AgentRegistry } from "./agent_registry.ts";
import {
  type AgentRegistration,
  observedStatus,
  processAlive,
  processStartToken,
  registrationOf,
} from "./registry.ts";

const WRITER = fileURLToPath(new URL("./testdata/register_loop.ts", import.meta.url));
const LINUX = Deno.build.os === "linux";

interface TempHome extends AsyncDisposable {
  home: LoomHome;
  dir: string;
}

async function tempHome(): Promise<TempHome> {
  const root = await tempDir("loom_registry_test_");
  return {
    home: resolveHome(new Map([["LOOM_HOME", root.path]])),
    dir: root.path,
    [Symbol.asyncDispose]: () => root[Symbol.asyncDispose](),
  };
}

/** A config with two tools; the second has a header naming a secret and a body. */
function weatherConfig(path = "/configs/weather.yaml", extraTool = "") {
  return parseConfig(
    `agent:
  name: weather
  version: "2.1.0"
  description: Forecasts
  exposes:
    - name: forecast
      title: Forecast
      description: Get the forecast of a city
      parameters:
        city: { type: string, pattern: "^[A-Za-z ]{1,40}$", description: City name }
        days: { type: integer, minimum: 1, maximum: 14, required: false }
        unit: { type: string, enum: [c, f], required: false }
    - name: report
      description: Send a weather report
      access: write
      parameters:
        text: { type: string }
${extraTool}  http_bridge:
    - tool_name: forecast
      url: "https://api.example.com/v1/hidden-forecast-path/{{city}}"
      query_params: { days: days }
    - tool_name: report
      method: POST
      url: "https://reports.example.com:8443/submit"
      headers: { X-Report-Key: "Bearer {{secret:report-key}}" }
      body_template: { note: "{{text}}" }
  runtime:
    trust_tier: 2
`,
    { path },
  );
}

function register(
  store: { registry: { register(r: AgentRegistration, at: Date): void } },
  r: AgentRegistration,
) {
  store.registry.register(r, new Date());
}

/** The database file and its WAL, as text (bytes kept one-to-one). */
async function dbBytes(home: LoomHome): Promise<string> {
  let text = "";
  for (const file of [home.db, `${home.db}-wal`]) {
    try {
      text += new TextDecoder("latin1").decode(await Deno.readFile(file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return text;
}

// --- Negative tests first ---------------------------------------------------

Deno.test("registry: a registration stores no header, body template, URL path or secret placeholder", async () => {
  await using t = await tempHome();
  const config = weatherConfig();
  {
    await using store = await openStore(t.home);
    register(
      store,
      registrationOf(config, {
        path: "/configs/weather.yaml",
        signature: { verdict: "unsigned" },
        transport: "stdio",
      }),
    );
    const tools = store.registry.tools("weather");
    assert.deepEqual(tools.map((x) => [x.name, x.method, x.origin]), [
      ["forecast", "GET", "https://api.example.com:443"],
      ["report", "POST", "https://reports.example.com:8443"],
    ]);
  }
  const bytes = await dbBytes(t.home);
  assert.ok(bytes.includes("reports.example.com"), "the origin is stored");
  for (
    const absent of [
      "X-Report-Key",
      "{{secret:",
      "report-key",
      "Bearer",
      "hidden-forecast-path",
      "note",
    ]
  ) {
    assert.ok(!bytes.includes(absent), `the database holds "${absent}"`);
  }
});

Deno.test("registry: register() replaces an agent's tools atomically; a failed registration leaves the earlier one whole", async () => {
  await using t = await tempHome();
  await using store = await openStore(t.home);
  const first = registrationOf(weatherConfig(), {
    path: "/configs/weather.yaml",
    signature: { verdict: "valid", version: 3 },
    transport: "stdio",
  });
  register(store, first);
  // A registration whose second tool collides fails in the middle of its transaction.
  const broken: AgentRegistration = {
    ...first,
    configDigest: "c".repeat(64),
    tools: [{ ...first.tools[0], name: "only" }, { ...first.tools[0], name: "only" }],
  };
  assert.throws(() => register(store, broken), /UNIQUE|constraint/i);
  assert.equal(store.registry.get("weather")?.configDigest, first.configDigest);
  assert.deepEqual(store.registry.tools("weather").map((x) => x.name), ["forecast", "report"]);

  const smaller = registrationOf(
    parseConfig(
      `agent:
  name: weather
  exposes:
    - name: now
      description: Current weather
  http_bridge:
    - tool_name: now
      url: "https://api.example.com/now"
`,
      { path: "/configs/weather.yaml" },
    ),
    { path: "/configs/weather.yaml", signature: { verdict: "unsigned" }, transport: "http" },
  );
  register(store, smaller);
  const row = store.registry.get("weather")!;
  assert.deepEqual(store.registry.tools("weather").map((x) => x.name), ["now"]);
  assert.equal(row.toolCount, 1);
  assert.equal(row.version, null);
  assert.equal(row.signature, "unsigned");
  assert.equal(row.transport, "http");
});

Deno.test("registry: two processes registering at once leave one consistent row per agent", async () => {
  await using t = await tempHome();
  (await openStore(t.home)).close(); // migrate once, as a running server would have
  const writers = ["first", "second"].map((tag) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=${t.dir}`,
        `--allow-write=${t.dir}`,
        WRITER,
        t.dir,
        "150",
        tag,
        "wait",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn()
  );
  const stderrs = writers.map((w) => new Response(w.stderr).text());
  // Both connections open first, then start together.
  const readers = writers.map((w) => w.stdout.pipeThrough(new TextDecoderStream()).getReader());
  for (const reader of readers) {
    const { value } = await reader.read();
    assert.match(value ?? "", /ready/);
  }
  for (const w of writers) {
    const writer = w.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
  }
  const finished = Promise.all(readers.map(async (reader) => {
    let text = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  }));
  // A third connection reads while they write: every snapshot is one whole registration.
  let ended = false;
  finished.finally(() => (ended = true));
  const reader = new DatabaseSync(t.home.db);
  reader.exec("PRAGMA busy_timeout = 10000");
  const torn: string[] = [];
  let snapshots = 0;
  try {
    for (let i = 0; i < 20_000 && !ended; i++) {
      reader.exec("BEGIN");
      const row = reader.prepare("SELECT declared_version AS tag FROM agents WHERE name = 'shared'")
        .get();
      const names = reader.prepare(
        "SELECT name FROM agent_tools WHERE agent = 'shared' ORDER BY position",
      ).all().map((r) => String(r.name));
      reader.exec("COMMIT");
      if (row !== undefined) {
        snapshots++;
        const tag = String(row.tag);
        const expected = Array.from({ length: tag === "first" ? 5 : 3 }, (_, n) => `${tag}_${n}`);
        if (names.join() !== expected.join()) torn.push(`${tag}: ${names.join()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    reader.close();
  }
  const rest = await finished;
  assert.deepEqual(torn.slice(0, 5), [], `${torn.length} torn snapshots of ${snapshots}`);
  for (const [i, w] of writers.entries()) {
    const status = await w.status;
    assert.equal(status.code, 0, await stderrs[i]);
    assert.match(rest[i], /done 150/);
  }

  await using store = await openStore(t.home);
  const raw = new DatabaseSync(t.home.db);
  try {
    assert.equal(raw.prepare("PRAGMA integrity_check").get()?.integrity_check, "ok");
  } finally {
    raw.close();
  }
  const shared = store.registry.get("shared")!;
  const tag = shared.declaredVersion;
  assert.ok(tag === "first" || tag === "second");
  // The row and its tools come from the same registration.
  const tools = store.registry.tools("shared").map((x) => x.name);
  assert.deepEqual(tools, Array.from({ length: tag === "first" ? 5 : 3 }, (_, i) => `${tag}_${i}`));
  assert.equal(shared.toolCount, tools.length);
  assert.deepEqual(store.registry.list().map((a) => [a.name, a.toolCount]), [
    ["own-first", 5],
    ["own-second", 3],
    ["shared", tools.length],
  ]);
});

Deno.test({
  name:
    "registry: a running row whose process is gone shows as stopped, also when its pid was reused",
  ignore: !LINUX,
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null" })
      .spawn();
    const gone = child.pid;
    await child.status;
    assert.equal(processAlive(gone, null), false);
    assert.deepEqual(observedStatus({ status: "running", pid: gone, pidStart: null }), {
      status: "stopped",
      stale: true,
    });
    // This process, recorded with another start time: a later process that reused the pid.
    const start = processStartToken(Deno.pid);
    assert.match(start ?? "", /^[0-9]+$/);
    assert.equal(processAlive(Deno.pid, `${start}0`), false);
    assert.deepEqual(observedStatus({ status: "running", pid: Deno.pid, pidStart: `${start}0` }), {
      status: "stopped",
      stale: true,
    });
    // The live registering process, and rows that do not claim to run, are shown as recorded.
    assert.deepEqual(observedStatus({ status: "running", pid: Deno.pid, pidStart: start }), {
      status: "running",
      stale: false,
    });
    assert.deepEqual(observedStatus({ status: "failed", pid: gone, pidStart: null }), {
      status: "failed",
      stale: false,
    });
  },
});

Deno.test("observedStatus() keeps the recorded status where liveness cannot be checked", () => {
  assert.deepEqual(observedStatus({ status: "running", pid: 42, pidStart: null }, () => null), {
    status: "running",
    stale: false,
  });
});

Deno.test("AgentRegistry: marking and touching change only this process's registration", async () => {
  await using t = await tempHome();
  const config = weatherConfig();
  await using mine = await AgentRegistry.open(t.home);
  assert.ok(
    mine.registerAgent(config, {
      path: "weather.yaml",
      signature: { verdict: "unsigned" },
      transport: "stdio",
    }),
  );
  // Another process registers the same agent after us.
  {
    await using other = await openStore(t.home);
    register(
      other,
      registrationOf(config, {
        path: "/elsewhere/weather.yaml",
        signature: { verdict: "unsigned" },
        transport: "http",
        pid: 999_999_999,
        pidStart: null,
      }),
    );
  }
  assert.equal(mine.markAgent("weather", "stopped"), false);
  await using store = await openStore(t.home);
  const row = store.registry.get("weather")!;
  assert.equal(row.status, "running");
  assert.equal(row.pid, 999_999_999);
  assert.equal(row.configPath, "/elsewhere/weather.yaml");
  // An agent this handle never registered is left alone.
  assert.equal(mine.markAgent("never-registered", "failed"), false);
});

Deno.test("AgentRegistry: register, touch at most once a minute, mark stopped", async () => {
  await using t = await tempHome();
  let now = Date.parse("2026-01-01T00:00:00Z");
  await using registry = await AgentRegistry.open(t.home, { now: () => now });
  const config = weatherConfig(`${t.dir}/weather.yaml`);
  assert.ok(registry.registerAgent(config, {
    path: "weather.yaml",
    cwd: t.dir,
    signature: { verdict: "valid", version: 7 },
    transport: "stdio",
  }));
  await using store = await openStore(t.home);
  const seen = () => store.registry.get("weather")!.lastSeen;
  const row = store.registry.get("weather")!;
  assert.equal(row.configPath, `${t.dir}/weather.yaml`);
  assert.equal(row.version, 7);
  assert.equal(row.declaredVersion, "2.1.0");
  assert.equal(row.signature, "ok");
  assert.equal(row.tier, 2);
  assert.equal(row.pid, Deno.pid);
  assert.equal(row.status, "running");
  assert.equal(seen(), "2026-01-01T00:00:00.000Z");

  now += 30_000;
  registry.touch("weather");
  assert.equal(seen(), "2026-01-01T00:00:00.000Z", "a touch within a minute writes nothing");
  now += 30_000;
  registry.touch("weather");
  assert.equal(seen(), "2026-01-01T00:01:00.000Z");

  now += 5_000;
  assert.ok(registry.markAgent("weather", "stopped"));
  const stopped = store.registry.get("weather")!;
  assert.equal(stopped.status, "stopped");
  assert.equal(stopped.statusAt, "2026-01-01T00:01:05.000Z");
  assert.deepEqual(store.registry.tools("weather")[0].parameters, [
    {
      name: "city",
      type: "string",
      required: true,
      description: "City name",
      pattern: "^[A-Za-z ]{1,40}$",
    },
    { name: "days", type: "integer", required: false, minimum: 1, maximum: 14 },
    { name: "unit", type: "string", required: false, enum: ["c", "f"] },
  ]);
});

Deno.test("AgentRegistry: a database it cannot use is reported once and never throws", async () => {
  await using t = await tempHome();
  (await openStore(t.home)).close();
  await Deno.chmod(t.home.db, 0o644); // refused by openStore as readable by others
  const errors: string[] = [];
  await using registry = await AgentRegistry.open(t.home, { onError: (m) => errors.push(m) });
  assert.equal(registry.available, false);
  const config = weatherConfig();
  const input = { path: "w.yaml", signature: { verdict: "unsigned" }, transport: "stdio" };
  assert.equal(registry.registerAgent(config, input), false);
  registry.touch("weather");
  assert.equal(registry.markAgent("weather", "stopped"), false);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /agent registry cannot be written .*mode 0644.*serving goes on/);
});

Deno.test("AgentRegistry: a write that fails is reported once; serving code sees false", async () => {
  await using t = await tempHome();
  const errors: string[] = [];
  await using registry = await AgentRegistry.open(t.home, { onError: (m) => errors.push(m) });
  const config = weatherConfig();
  const input = { path: "w.yaml", signature: { verdict: "unsigned" }, transport: "stdio" };
  await using slow = await AgentRegistry.open(t.home, {
    onError: (m) => errors.push(m),
    busyTimeoutMs: 0,
  });
  // Another connection holds the write lock for the whole attempt.
  const raw = new DatabaseSync(t.home.db);
  raw.exec("BEGIN IMMEDIATE");
  try {
    assert.equal(slow.registerAgent(config, input), false);
    assert.equal(slow.registerAgent(config, input), false);
  } finally {
    raw.exec("ROLLBACK");
    raw.close();
  }
  assert.equal(errors.length, 1);
  assert.match(errors[0], /locked|busy/i);
  assert.ok(registry.registerAgent(config, input));
});

Deno.test("AgentRegistry.registerAgents() records a mesh's agents in one transaction, a skipped one with its signature failure", async () => {
  await using t = await tempHome();
  await using registry = await AgentRegistry.open(t.home);
  const other = parseConfig(
    `agent:
  name: other
  exposes:
    - name: ping
      description: Ping
  http_bridge:
    - tool_name: ping
      url: "http://127.0.0.1:9/ping"
`,
    { path: "/mesh/other.yaml" },
  );
  assert.ok(registry.registerAgents([
    {
      config: weatherConfig("/mesh/weather.yaml"),
      input: {
        path: "/mesh/weather.yaml",
        signature: { verdict: "valid", version: 2 },
        transport: "mesh",
      },
    },
    {
      config: other,
      input: {
        path: "/mesh/other.yaml",
        signature: { verdict: "expired", version: 1 },
        transport: "mesh",
        status: "skipped",
      },
    },
  ]));
  await using store = await openStore(t.home);
  assert.deepEqual(
    store.registry.list().map((
      a,
    ) => [a.name, a.status, a.signature, a.signatureFailure, a.version]),
    [["other", "skipped", "failed", "expired", null], ["weather", "running", "ok", null, 2]],
  );
  assert.ok(registry.markAgent("weather", "stopped"));
  assert.equal(store.registry.get("weather")?.status, "stopped");
});
