/**
 * Test helper: a real, loaded agent config (through `parseConfig`) with the
 * bridges, tier and networks a sandbox test needs.
 *
 * @module
 */

import { type AgentConfig, parseConfig, type TrustTier } from "../../config/mod.ts";

/** One bridge of a test config. */
export interface TestBridge {
  url: string;
  method?: string;
  /** `response_path`. */
  responsePath?: string;
  /** Header templates. */
  headers?: Record<string, string>;
}

/** What {@linkcode agentConfig} builds. */
export interface TestConfigOptions {
  name?: string;
  bridges: (string | TestBridge)[];
  tier?: TrustTier;
  allowNetworks?: string[];
  /** `max_execution_time`, e.g. `2s`. Default `5s`. */
  maxExecutionTime?: string;
}

/**
 * Build and load a config: tool `tool_<i>` per bridge, each with optional
 * string parameters `id` and `q`.
 *
 * @param options bridges, tier, networks, deadline
 * @returns the resolved config
 */
export function agentConfig(options: TestConfigOptions): AgentConfig {
  const bridges = options.bridges.map((b) => typeof b === "string" ? { url: b } : b);
  const tools = bridges.map((_, i) =>
    `    - name: tool_${i}
      description: Test tool ${i}
      access: ${
      bridges[i].method && bridges[i].method !== "GET" && options.tier !== 1 ? "write" : "read"
    }
      parameters:
        id: { type: string, required: false, default: "x" }
        q: { type: string, required: false }
`
  ).join("");
  const bridgeYaml = bridges.map((b, i) =>
    `    - tool_name: tool_${i}
      method: ${b.method ?? "GET"}
      url: ${JSON.stringify(b.url)}
` + (b.responsePath ? `      response_path: ${JSON.stringify(b.responsePath)}\n` : "") +
    (b.headers ? `      headers: ${JSON.stringify(b.headers)}\n` : "")
  ).join("");
  const text = `agent:
  name: ${options.name ?? "sandbox-test"}
  description: Sandbox test agent
  exposes:
${tools || "    []\n"}  http_bridge:
${bridgeYaml || "    []\n"}  runtime:
    trust_tier: ${options.tier ?? 1}
    max_execution_time: ${options.maxExecutionTime ?? "5s"}
    allow_networks: ${JSON.stringify(options.allowNetworks ?? [])}
`;
  return parseConfig(text, { path: "sandbox-test.yaml" });
}
