/**
 * The agent host (`sandbox: deno`, `docs/security-controls.md` §3): each agent's bridge calls
 * run in a separate Deno process started with permission flags derived from
 * its config alone (`denoFlagsFor()`, `src/security/sandbox/`), a cleared
 * environment and a V8 heap cap, over a persistent newline-delimited JSON
 * pipe. {@linkcode AgentHost} is the {@linkcode BridgeExecutor} the gate uses
 * for `sandbox: deno`.
 *
 * Inside a compiled LOOM binary the process is the binary itself
 * (`loom __agent-host`, see {@linkcode runAgentHostMain}), which runs the
 * agent code in a Worker with every permission key explicit.
 *
 * @example
 * ```ts
 * import { AgentHost } from "./mod.ts";
 * import { loadConfig } from "../../config/mod.ts";
 *
 * const config = await loadConfig("agents/demo.yaml");
 * const host = new AgentHost(config, {
 *   onEvent: (e) => console.error(`sandbox ${e.action}: ${e.detail}`),
 * });
 * try {
 *   const result = await host.run(config.bridges[0], { city: "Oslo" }, {
 *     signal: AbortSignal.timeout(config.runtime.maxExecutionTimeMs),
 *     maxResponseBytes: config.runtime.maxResponseBytes,
 *     allowNetworks: config.runtime.allowNetworks,
 *     secrets: new Map(),
 *   });
 *   console.log(result.status, result.text);
 * } finally {
 *   await host.close();
 * }
 * ```
 *
 * @module
 */

import type { BridgeExecutor } from "../executor.ts";

export {
  AgentHost,
  type AgentHostCommand,
  agentHostCommand,
  type AgentHostMode,
  type AgentHostOptions,
  type SandboxAction,
  type SandboxEvent,
} from "./agent_host.ts";
export { type AgentHostMainIo, runAgentHostMain, workerPermissions } from "./worker_host.ts";
export { AGENT_PROCESS_ARG, type HostEntry, hostEntry, isBundled } from "./host_entry.ts";
export { serveAgentStdio } from "./agent_stdio.ts";
export type { BridgeExecutor };
