/**
 * The public MCP conformance suite (`@modelcontextprotocol/conformance`)
 * against `loom run --transport http`, one scenario at a time. It needs a
 * newer Node than some machines have, so it runs under Deno.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DEV_CONFIG_FLAGS, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

const SCENARIOS = [
  "server-initialize",
  "ping",
  "tools-list",
  "logging-set-level",
  "dns-rebinding-protection",
  "server-sse-multiple-streams",
];

Deno.test("conformance: loom run --transport http passes the server scenarios", async (t) => {
  await using dir = await tempDir();
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const config = join(dir.path, "conformance.yaml");
  await Deno.writeTextFile(
    config,
    `agent:
  name: conformance
  exposes:
    - name: echo_status
      description: Report the upstream status
  http_bridge:
    - tool_name: echo_status
      url: "${api.url}/status"
`,
  );
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  for (const scenario of SCENARIOS) {
    await t.step(scenario, async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          ...DEV_CONFIG_FLAGS,
          "npm:@modelcontextprotocol/conformance@0.1.16",
          "server",
          "--url",
          server.url,
          "--scenario",
          scenario,
        ],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      const summary = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(text);
      assert.ok(summary, `no result line from the suite:\n${text.slice(-2000)}`);
      assert.equal(summary[3], "0", text.slice(-3000));
      assert.equal(summary[1], summary[2], text.slice(-3000));
      assert.equal(out.code, 0, text.slice(-3000));
    });
  }
});
