/**
 * End to end: what one client entry of a mesh sees, with the real CLI as a
 * subprocess, the SDK client over stdio and a real upstream on loopback.
 * Refusals first (a bad `--tools` pattern, an unknown profile, conflicting
 * options: exit 64 before anything serves); then a profile written into a
 * Claude Desktop entry by `loom claude-config` and launched as printed (the
 * client lists only the profile's tools, and a hidden tool's call is
 * refused); then discovery mode (two tools, a search, a found tool called
 * through its own gate).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { agentYaml } from "../../src/app/_mesh_testing.ts";
import { LOOM_FLAGS, MAIN, runLoom, startUpstream, tempDir } from "../_helpers.ts";

const MESH_FILE = `profiles:
  ops:
    description: Only the status tools
    tools: ["*_status"]
  finder:
    discovery: true
`;

/** Agents github (list_issues, delete_repo) and prom (prom_status), and the mesh file. */
async function meshDir(root: string, url: string): Promise<string> {
  const dir = join(root, "agents");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    join(dir, "github.yaml"),
    agentYaml("github", url, ["list_issues", "delete_repo"]),
  );
  await Deno.writeTextFile(join(dir, "prom.yaml"), agentYaml("prom", url, ["prom_status"]));
  await Deno.writeTextFile(join(dir, "loom-mesh.yaml"), MESH_FILE);
  return dir;
}

function textOf(result: unknown): string {
  return (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
}

async function connect(command: string, args: string[], env: Record<string, string>) {
  const client = new Client({ name: "profiles-e2e", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command, args, env, stderr: "ignore" }));
  return client;
}

Deno.test("loom mesh and claude-config refuse a bad pattern, an unknown profile and conflicting options (exit 64)", async () => {
  await using root = await tempDir();
  await using api = await startUpstream(() => Response.json({}));
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const cases: [string[], RegExp][] = [
    [["mesh", dir, "--tools", "Bad/Name"], /--tools: Invalid tool pattern "Bad\/Name"/],
    [
      ["mesh", dir, "--profile", "opz"],
      /No profile "opz" .*did you mean "ops"\?; profiles: ops, finder/,
    ],
    [["mesh", dir, "--profile", "ops", "--tools", "x"], /Give --tools or --profile, not both/],
    [["claude-config", dir, "--profile", "nope"], /No profile "nope"/],
    [
      ["claude-config", dir, "--mesh-file", join(dir, "loom-mesh.yaml")],
      /--mesh-file is read for --profile/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runLoom(args, { home });
    assert.equal(run.code, 64, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  assert.equal(api.requests.length, 0);
});

Deno.test("loom claude-config --profile writes the profile into an entry that, launched as printed, serves only its tools", async () => {
  await using root = await tempDir();
  await using api = await startUpstream((req) =>
    Response.json({ path: new URL(req.url).pathname })
  );
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const printed = await runLoom(["claude-config", dir, "--name", "ops", "--profile", "ops"], {
    home,
  });
  assert.equal(printed.code, 0, printed.stderr);
  const entry = JSON.parse(printed.stdout).mcpServers.ops;
  assert.deepEqual(entry.args.slice(-4), ["mesh", dir, "--profile", "ops"]);
  const client = await connect(entry.command, entry.args, entry.env);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["prom_status"]);
    const status = await client.callTool({ name: "prom_status", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(status)), { path: "/prom/prom_status" });
    // A tool of the mesh the profile hides is as unknown as a name no agent has.
    await assert.rejects(
      () => client.callTool({ name: "delete_repo", arguments: {} }),
      /delete_repo/,
    );
  } finally {
    await client.close();
  }
  assert.deepEqual(api.requests.map((r) => new URL(r.url).pathname), ["/prom/prom_status"]);
});

Deno.test("loom mesh --discovery lists two tools; a search finds a tool and the call tool runs it through its gate", async () => {
  await using root = await tempDir();
  await using api = await startUpstream((req) =>
    Response.json({ path: new URL(req.url).pathname })
  );
  const dir = await meshDir(root.path, api.url);
  const home = join(root.path, "home");
  const client = await connect(Deno.execPath(), [...LOOM_FLAGS, MAIN, "mesh", dir, "--discovery"], {
    LOOM_HOME: home,
    NO_COLOR: "1",
  });
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ["loom_search_tools", "loom_call_tool"]);
    const found = await client.callTool({
      name: "loom_search_tools",
      arguments: { query: "github issues", limit: 1 },
    });
    const best = (found.structuredContent as { tools: { name: string; agent: string }[] }).tools;
    assert.deepEqual(best.map((t) => [t.agent, t.name]), [["github", "list_issues"]]);
    const listed = await client.callTool({
      name: "loom_call_tool",
      arguments: { name: "list_issues", arguments: {} },
    });
    assert.deepEqual(JSON.parse(textOf(listed)), { path: "/github/list_issues" });
    // The inner call meets the tool's own validation: an undeclared argument is refused by name.
    const refused = await client.callTool({
      name: "loom_call_tool",
      arguments: { name: "list_issues", arguments: { repo: "x" } },
    });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /repo/);
  } finally {
    await client.close();
  }
  assert.deepEqual(api.requests.map((r) => new URL(r.url).pathname), ["/github/list_issues"]);
});
