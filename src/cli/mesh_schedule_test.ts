import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "./mod.ts";
import { memoryIo } from "./_testing.ts";
import { MESH_HELP } from "./mesh.ts";
import { scheduleTimeZone } from "./_schedule_options.ts";
import { tempDir } from "../../tests/_helpers.ts";

const CONFIG = `agent:
  name: reports
  exposes:
    - name: report
      description: Build the report
      triggers:
        - cron: "0 9 * * *"
  http_bridge:
    - tool_name: report
      url: http://127.0.0.1:9/report
  runtime:
    sandbox: none
`;

/** Run `loom ARGS` in process with LOOM_HOME in `home` and stdin already ended. */
async function loom(args: string[], home: string) {
  const io = memoryIo();
  const env = new Map([["LOOM_HOME", home]]);
  const code = await main(args, {
    ...io,
    env: { get: (key) => env.get(key) },
    stdin: new ReadableStream({ start: (c) => c.close() }),
  });
  return { code, err: io.stderrText(), out: io.stdoutText() };
}

Deno.test("loom mesh --no-schedule serves without running triggers; without it they are planned", async () => {
  await using root = await tempDir("loom-sched-cli-");
  const dir = join(root.path, "agents");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "reports.yaml"), CONFIG);
  const home = join(root.path, "home");

  const off = await loom(["mesh", dir, "--no-schedule"], home);
  assert.equal(off.code, 0, off.err);
  assert.match(off.err, /serving 1 tool\(s\)/);
  assert.doesNotMatch(off.err, /scheduled trigger/);

  const on = await loom(["mesh", dir, "--time-zone", "UTC"], home);
  assert.equal(on.code, 0, on.err);
  assert.match(on.err, /loom: 1 scheduled trigger\(s\), time zone UTC/);
});

Deno.test("loom mesh refuses an unknown --time-zone, and --time-zone with --no-schedule (exit 64)", async () => {
  await using root = await tempDir("loom-sched-cli-");
  const bad = await loom(["mesh", root.path, "--time-zone", "Mars/Olympus"], join(root.path, "h"));
  assert.equal(bad.code, 64);
  assert.match(bad.err, /Invalid --time-zone "Mars\/Olympus": expected an IANA time zone/);
  const both = await loom(["mesh", root.path, "--no-schedule", "--time-zone", "UTC"], root.path);
  assert.equal(both.code, 64);
  assert.match(both.err, /--time-zone has no use with --no-schedule/);
});

Deno.test("scheduleTimeZone(): the process's zone by default, null with --no-schedule; help names both", () => {
  assert.equal(scheduleTimeZone({}), Intl.DateTimeFormat().resolvedOptions().timeZone);
  assert.equal(scheduleTimeZone({ "time-zone": "Europe/Berlin" }), "Europe/Berlin");
  assert.equal(scheduleTimeZone({ "no-schedule": true }), null);
  assert.match(MESH_HELP, /--no-schedule/);
  assert.match(MESH_HELP, /--time-zone TZ/);
});
