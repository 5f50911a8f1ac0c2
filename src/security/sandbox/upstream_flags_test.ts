import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { FORBIDDEN_DENO_FLAGS } from "./flags.ts";
import { upstreamDenoFlags } from "./upstream_flags.ts";

function config(upstream: string, runtime = "") {
  return parseConfig(
    `agent:\n  name: gw\n  mcp_upstream:\n${upstream}${runtime}`,
    { path: "gw.yaml" },
  );
}

Deno.test("upstreamDenoFlags(): nothing is allowed that the config does not list", () => {
  const flags = upstreamDenoFlags(config(`    command: ["npm:some-server"]\n`));
  assert.deepEqual(flags, ["--no-prompt", "--no-config", "--v8-flags=--max-old-space-size=512"]);
  for (const flag of flags) {
    assert.ok(!FORBIDDEN_DENO_FLAGS.some((f) => flag === f || flag.startsWith(`${f}=`)), flag);
  }
});

Deno.test("upstreamDenoFlags(): each list becomes one flag; env names include those given", () => {
  const flags = upstreamDenoFlags(config(
    `    command: ["npm:some-server"]
    env: { MEMORY_FILE_PATH: /data/m.jsonl }
    env_secrets: { API_KEY_VAR: key }
    permissions:
      read: [/data]
      write: [/data/m.jsonl]
      net: ["api.example.com:443"]
      env: [LANG]
      sys: [hostname]
`,
  ));
  assert.ok(flags.includes("--allow-read=/data"));
  assert.ok(flags.includes("--allow-write=/data/m.jsonl"));
  assert.ok(flags.includes("--allow-net=api.example.com:443"));
  assert.ok(flags.includes("--allow-env=API_KEY_VAR,LANG,MEMORY_FILE_PATH"));
  assert.ok(flags.includes("--allow-sys=hostname"));
  // Reaching a host never opens the private networks: they stay denied.
  const deny = flags.find((f) => f.startsWith("--deny-net="));
  assert.ok(deny?.includes("127.0.0.0/8") || deny?.includes("127.0.0.1"), deny);
  assert.ok(!flags.some((f) => f.startsWith("--allow-run") || f === "-A" || f === "--allow-all"));
});

Deno.test("upstreamDenoFlags(): refuses a config without a stdio upstream", () => {
  const http = config(`    url: https://mcp.example.com/mcp\n`);
  assert.throws(() => upstreamDenoFlags(http), TypeError);
});
