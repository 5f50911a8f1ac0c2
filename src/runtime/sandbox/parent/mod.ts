/**
 * The parent side of the agent sandbox: what LOOM runs to start, supervise
 * and speak to an agent's host process (`launch.ts`, `supervise.ts`,
 * `channel.ts`, tied together by {@linkcode AgentHost}), and the outer
 * process of a compiled binary, which starts the agent Worker with every
 * permission key explicit (`worker_host.ts`). Nothing here runs inside the
 * wall; that is `../child/`.
 *
 * @example
 * ```ts
 * import { agentHostCommand } from "./mod.ts";
 * import { loadConfig } from "../../../config/mod.ts";
 *
 * const config = await loadConfig("agents/demo.yaml");
 * const command = agentHostCommand(config, { mode: "process" });
 * console.log(command.command, command.args.join(" "));
 * ```
 *
 * @module
 */

export { AgentHost, type AgentHostOptions } from "./agent_host.ts";
export {
  type AgentHostCommand,
  agentHostCommand,
  type AgentHostMode,
  type LaunchOptions,
} from "./launch.ts";
export { type SandboxAction, type SandboxEvent } from "./supervise.ts";
export { type AgentHostMainIo, runAgentHostMain, workerPermissions } from "./worker_host.ts";
export { AGENT_PROCESS_ARG, type HostEntry, hostEntry, isBundled } from "./host_entry.ts";
