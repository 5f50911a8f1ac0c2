/**
 * End to end: `loom run` keeps the agent registry current, and `loom list`
 * and `loom info` read it: running while it serves, stopped after, `stopped
 * (not running)` once its process is killed; info shows tools, parameters,
 * bridge origins, tier and sandbox flags, never a header or a secret value.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  INITIALIZE,
  jsonLines,
  loomListJson as listJson,
  loomRunCommand,
  runLoom,
  startUpstream,
  tempDir,
  toolCall,
  writeKeyedConfig,
} from "../_helpers.ts";

/** Lines of stderr read before giving up on the "serving" line. */
const MAX_CHUNKS = 500;

function weatherYaml(port: number): string {
  return `agent:
  name: weather
  version: "2.1.0"
  description: Forecasts for a city
  exposes:
    - name: forecast
      title: Forecast
      description: Get the forecast of a city
      parameters:
        city: { type: string, pattern: "^[A-Za-z ]{1,40}$", description: City name }
        days: { type: integer, minimum: 1, maximum: 14, required: false }
        unit: { type: string, enum: [c, f], required: false }
  http_bridge:
    - tool_name: forecast
      url: "http://127.0.0.1:${port}/forecast/{{city}}"
      query_params: { days: days, unit: unit }
  runtime:
    trust_tier: 1
`;
}

/** `loom run CONFIG` over stdio, resolved once it says it is serving. */
async function serve(config: string, home: string): Promise<{
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  stderr: () => string;
  done: Promise<void>;
}> {
  const child = loomRunCommand(config, { home, stdin: "piped" }).spawn();
  const stdin = child.stdin.getWriter();
  let text = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  for (let i = 0; i < MAX_CHUNKS && !/loom: serving/.test(text); i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  assert.match(text, /loom: serving/, text);
  const stdout = child.stdout.pipeTo(new WritableStream());
  const done = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
    await stdout;
  })();
  return { child, stdin, stderr: () => text, done };
}

Deno.test("loom list and loom info show an agent running while loom run serves it, and stopped after", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  // A directory name a terminal would act on: printed escaped, exact in --json.
  const configDir = join(dir.path, "conf\x1b[31mred");
  await Deno.mkdir(configDir);
  const config = join(configDir, "weather.yaml");
  await Deno.writeTextFile(config, weatherYaml(9));

  const server = await serve(config, home);
  try {
    const running = await listJson(home);
    assert.equal(running.length, 1);
    const row = running[0];
    assert.deepEqual(Object.keys(row).sort(), [
      "config_digest",
      "config_path",
      "declared_version",
      "last_seen",
      "name",
      "pid",
      "recorded_status",
      "registered_at",
      "signature",
      "signature_failure",
      "stale",
      "status",
      "status_at",
      "tier",
      "tool_count",
      "transport",
      "version",
    ]);
    assert.equal(row.name, "weather");
    assert.equal(row.status, "running");
    assert.equal(row.stale, false);
    assert.equal(row.pid, server.child.pid);
    assert.equal(row.config_path, config);
    assert.equal(row.tier, 1);
    assert.equal(row.tool_count, 1);
    assert.equal(row.signature, "unsigned");
    assert.equal(row.version, null);
    assert.equal(row.declared_version, "2.1.0");
    assert.equal(row.transport, "stdio");

    const table = await runLoom(["list"], { home });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^NAME +TIER +TOOLS +STATUS +SIGNATURE +LAST-SEEN +CONFIG$/);
    assert.match(lines[1], /^weather +1 +1 +running +unsigned +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +/);
    assert.ok(lines[1].endsWith(config.replace("\x1b", "\\x1b")), lines[1]);
    assert.ok(!table.stdout.includes("\x1b"));

    const info = await runLoom(["info", "weather"], { home });
    assert.equal(info.code, 0, info.stderr);
    assert.ok(!info.stdout.includes("\x1b"));
    assert.match(info.stdout, /^status +running \(pid \d+, stdio\)$/m);
    assert.match(info.stdout, /^tier +1 \(observer\)$/m);
    assert.match(info.stdout, /^signature +unsigned$/m);
    assert.match(info.stdout, /^bridge hosts +http:\/\/127\.0\.0\.1:9$/m);
    assert.match(info.stdout, /^deno flags +--no-prompt .*--allow-net=127\.0\.0\.1:9 /m);
    assert.match(info.stdout, /^ {2}forecast {2}read {2}GET http:\/\/127\.0\.0\.1:9$/m);
    assert.match(
      info.stdout,
      /- city {2}string {2}required {2}pattern \^\[A-Za-z \]\{1,40\}\$ {2}\(City name\)/,
    );
    assert.match(info.stdout, /- days {2}integer {2}optional {2}1\.\.14/);
    assert.match(info.stdout, /- unit {2}string {2}optional {2}one of "c", "f"/);
    assert.doesNotMatch(info.stdout, /changed since/);

    const infoJson = await runLoom(["info", "weather", "--json"], { home });
    assert.equal(infoJson.code, 0, infoJson.stderr);
    const shown = JSON.parse(infoJson.stdout);
    assert.equal(shown.config_path, config);
    assert.equal(shown.tier_name, "observer");
    assert.deepEqual(shown.bridge_hosts, ["http://127.0.0.1:9"]);
    assert.equal(shown.sandbox.mode, "deno");
    assert.equal(shown.sandbox.config_changed, false);
    assert.ok(shown.sandbox.deno_flags.includes("--allow-net=127.0.0.1:9"));
    assert.deepEqual(shown.tools, [{
      name: "forecast",
      title: "Forecast",
      description: "Get the forecast of a city",
      access: "read",
      method: "GET",
      origin: "http://127.0.0.1:9",
      parameters: [
        {
          name: "city",
          type: "string",
          required: true,
          description: "City name",
          pattern: "^[A-Za-z ]{1,40}$",
        },
        { name: "days", type: "integer", required: false, minimum: 1, maximum: 14 },
        { name: "unit", type: "string", required: false, enum: ["c", "f"] },
      ],
    }]);
  } finally {
    await server.stdin.close();
    await server.child.status;
    await server.done;
  }

  const stopped = await listJson(home);
  assert.equal(stopped[0].status, "stopped");
  assert.equal(stopped[0].recorded_status, "stopped");
  assert.equal(stopped[0].stale, false);

  // The file changed since it was served: info says so.
  await Deno.writeTextFile(config, "# edited\n", { append: true });
  const changed = await runLoom(["info", "weather"], { home });
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stdout, /^status +stopped /m);
  assert.match(changed.stdout, /config file changed since it was registered/);
  const changedJson = JSON.parse((await runLoom(["info", "weather", "--json"], { home })).stdout);
  assert.equal(changedJson.sandbox.config_changed, true);
});

Deno.test({
  name: "loom list shows an agent whose loom run was killed as stopped (not running)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using dir = await tempDir();
    const home = join(dir.path, "home");
    const config = join(dir.path, "weather.yaml");
    await Deno.writeTextFile(config, weatherYaml(9));
    const server = await serve(config, home);
    server.child.kill("SIGKILL");
    await server.child.status;
    await server.done;
    await server.stdin.close().catch(() => {});

    const rows = await listJson(home);
    assert.equal(rows[0].status, "stopped");
    assert.equal(rows[0].recorded_status, "running");
    assert.equal(rows[0].stale, true);
    const table = await runLoom(["list"], { home });
    assert.match(table.stdout, /^weather +1 +1 +stopped \(not running\) +unsigned /m);
    const info = await runLoom(["info", "weather"], { home });
    assert.match(info.stdout, /^status +stopped \(not running\) \(pid \d+, stdio\)$/m);
  },
});

Deno.test("loom list on an empty registry names loom run; loom info of an unknown agent exits 66 with a hint", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const empty = await runLoom(["list"], { home });
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, "");
  assert.match(empty.stderr, /No agents registered yet: "loom run CONFIG" and "loom mesh DIR"/);
  assert.deepEqual(await listJson(home), []);
  const none = await runLoom(["info", "weather"], { home });
  assert.equal(none.code, 66);
  assert.match(none.stderr, /No agent "weather": no agents registered yet/);

  const config = join(dir.path, "weather.yaml");
  await Deno.writeTextFile(config, weatherYaml(9));
  const ran = await runLoom(["run", config], { home, stdin: "" });
  assert.equal(ran.code, 0, ran.stderr);
  const typo = await runLoom(["info", "waether"], { home });
  assert.equal(typo.code, 66);
  assert.equal(typo.stderr, 'loom: No agent "waether" in the registry: did you mean "weather"?\n');
  const usage = await runLoom(["info"], { home });
  assert.equal(usage.code, 64);
});

Deno.test("loom run with a granted secret in a header stores no secret value in the registry, and loom info shows no header", async () => {
  const TOKEN = "tok_registry_5e7a9c1b3d_Qx";
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const seen: string[] = [];
  await using api = await startUpstream((req) => {
    seen.push(req.headers.get("authorization") ?? "");
    return Response.json({ ok: true });
  });
  const config = join(dir.path, "keyed.yaml");
  await writeKeyedConfig(config, api.url, 'Authorization: "Bearer {{secret:api-token}}"');
  const set = await runLoom(["secrets", "set", "api-token"], { home, stdin: TOKEN });
  assert.equal(set.code, 0, set.stderr);
  const grant = await runLoom(
    ["secrets", "grant", "keyed-agent", "api-token", "--config", config],
    { home },
  );
  assert.equal(grant.code, 0, grant.stderr);
  const ran = await runLoom(["run", config], {
    home,
    stdin: jsonLines(INITIALIZE, toolCall(2, "whoami")),
  });
  assert.equal(ran.code, 0, ran.stderr);
  assert.deepEqual(seen, [`Bearer ${TOKEN}`], "the secret was resolved in that run");

  let bytes = "";
  for (const file of ["loom.db", "loom.db-wal"]) {
    try {
      bytes += new TextDecoder("latin1").decode(await Deno.readFile(join(home, file)));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  assert.ok(bytes.includes("keyed-agent") && bytes.includes("whoami"), "the agent is registered");
  for (const absent of [TOKEN, btoa(TOKEN), "Bearer", "Authorization", "{{secret:"]) {
    assert.ok(!bytes.includes(absent), `the state database holds "${absent}"`);
  }
  for (const args of [["info", "keyed-agent"], ["info", "keyed-agent", "--json"]]) {
    const info = await runLoom(args, { home });
    assert.equal(info.code, 0, info.stderr);
    assert.ok(info.stdout.includes(api.url), info.stdout);
    for (const absent of [TOKEN, "Bearer", "Authorization", "{{secret:"]) {
      assert.ok(!info.stdout.includes(absent), `loom ${args.join(" ")} shows "${absent}"`);
    }
  }
});
