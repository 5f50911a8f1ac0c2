/**
 * The agent sandbox (`sandbox: deno`, `docs/security-controls.md` §3): each agent's bridge calls
 * run in a separate Deno process started with permission flags derived from
 * its config alone (`denoFlagsFor()`, `src/security/sandbox/`), a cleared
 * environment and a V8 heap cap, over a persistent newline-delimited JSON
 * pipe. {@linkcode AgentHost} is the {@linkcode BridgeExecutor} the gate uses
 * for `sandbox: deno`.
 *
 * Two sides: `parent/` is what LOOM runs (launch, supervise, the pipe),
 * `child/` what runs inside the wall; `protocol.ts`, the messages and their
 * framing, is shared by both.
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

import type { BridgeExecutor } from "../gate/mod.ts";

export {
  AGENT_PROCESS_ARG,
  AgentHost,
  type AgentHostCommand,
  agentHostCommand,
  type AgentHostMainIo,
  type AgentHostMode,
  type AgentHostOptions,
  type HostEntry,
  hostEntry,
  isBundled,
  type LaunchOptions,
  runAgentHostMain,
  type SandboxAction,
  type SandboxEvent,
  workerPermissions,
} from "./parent/mod.ts";
export { serveAgentStdio } from "./child/mod.ts";
export type { BridgeExecutor };
