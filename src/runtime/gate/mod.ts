/**
 * The gate: one agent's tools behind every control, one module per step in
 * the order of a call's life (see `gate.ts`), and the executors that run the
 * bridge at step 8.
 *
 * @example
 * ```ts
 * import { AgentGate } from "./mod.ts";
 * import { loadConfig } from "../../config/mod.ts";
 * import { AuditLog } from "../../security/audit/mod.ts";
 * const gate = new AgentGate(await loadConfig("agents/demo.yaml"), {
 *   audit: await AuditLog.open("/tmp/loom-audit"),
 * });
 * console.log(gate.listTools().map((t) => t.name));
 * ```
 *
 * @module
 */

export { AgentGate, type AgentGateOptions } from "./gate.ts";
export { type BridgeExecutor, type ExecuteOptions, InProcessExecutor } from "./executor.ts";
export type { Redaction, SecretSource } from "./07_secrets.ts";
export { approveCommand, type ConfigApprovalState, isQuarantined } from "./quarantine.ts";
export type { Released } from "./07_secrets.ts";
export type { UpstreamToolSpec } from "./01_resolve.ts";
export type { UpstreamAnswer, UpstreamCallClient, UpstreamCaller } from "./08_execute_upstream.ts";
