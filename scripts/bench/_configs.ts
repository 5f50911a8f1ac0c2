/**
 * The agent configs the bench serves: one tool, or fifty, each a GET bridge to
 * the bench upstream with every control on (validation with a pattern,
 * injection blocking, tier check, a rate limit, the durable audit log); and a
 * directory of N such agents for the mesh bench (`mesh_ready_bench.ts`).
 *
 * @module
 */

import { join } from "node:path";

/** The tool the bench calls and its arguments. */
export const BENCH_TOOL = "get_item";

/** Arguments of every bench call. */
export const BENCH_ARGS: Record<string, unknown> = { id: "item-42" };

function tool(name: string, upstream: string): { exposes: string; bridge: string } {
  return {
    exposes: `    - name: ${name}
      description: Fetch an item by id
      access: read
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,32}", max_length: 32 }
`,
    bridge: `    - tool_name: ${name}
      method: GET
      url: "${upstream}/items/{{id}}"
      timeout: 10s
`,
  };
}

/**
 * The bench config YAML.
 *
 * @param upstream the upstream base URL
 * @param tools how many tools (the called one, `get_item`, is in the middle)
 * @param sandbox `runtime.sandbox`, or undefined for the default (`deno`)
 * @param name `agent.name` (the mesh bench gives each of its agents its own)
 * @returns YAML text
 */
export function benchConfig(
  upstream: string,
  tools = 1,
  sandbox?: string,
  name = "bench-agent",
): string {
  const names: string[] = [];
  for (let i = 0; i < tools - 1; i++) names.push(`tool_${String(i).padStart(2, "0")}`);
  names.splice(names.length >> 1, 0, BENCH_TOOL);
  const parts = names.map((n) => tool(n, upstream));
  return `agent:
  name: ${name}
  description: LOOM bench agent with ${tools} tool(s)
  exposes:
${parts.map((p) => p.exposes).join("")}  http_bridge:
${parts.map((p) => p.bridge).join("")}  runtime:
    trust_tier: 1
    max_execution_time: 30s
    max_response_bytes: 1MiB
    rate_limit: { per_minute: 1000000 }
    injection: block
${sandbox ? `    sandbox: ${sandbox}\n` : ""}`;
}

/** Tools per agent of a bench mesh: `get_item` between two others, as in {@linkcode benchConfig}. */
export const MESH_AGENT_TOOLS = 3;

/** The file name (without `.yaml`) and agent name of agent `index` of a bench mesh. */
export function meshAgentName(index: number): string {
  return `agent-${String(index).padStart(2, "0")}`;
}

/**
 * Write `count` agent configs into `dir` (created): {@linkcode benchConfig}
 * with {@linkcode MESH_AGENT_TOOLS} tools each, all bridging to the same
 * upstream, each with its own agent name ({@linkcode meshAgentName}). Every
 * tool name is in every config, so a mesh of them needs `--namespace`.
 *
 * @param dir the directory to create
 * @param upstream the upstream base URL
 * @param count how many agents
 * @param sandbox `runtime.sandbox`, or undefined for the default (`deno`)
 * @returns the path of each config, in agent order
 */
export async function writeMeshConfigs(
  dir: string,
  upstream: string,
  count: number,
  sandbox?: string,
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = meshAgentName(i);
    const path = join(dir, `${name}.yaml`);
    await Deno.writeTextFile(path, benchConfig(upstream, MESH_AGENT_TOOLS, sandbox, name));
    paths.push(path);
  }
  return paths;
}
