/**
 * LOOM's runtime: the gate every tool call passes (and, in later issues, the
 * agent host process and the mesh supervisor).
 *
 * @example
 * ```ts
 * import { AgentGate } from "./mod.ts";
 * import { loadConfig } from "../config/mod.ts";
 * import { AuditLog } from "../security/audit/mod.ts";
 * const gate = new AgentGate(await loadConfig("agents/demo.yaml"), {
 *   audit: await AuditLog.open("/tmp/loom-audit"),
 * });
 * console.log(gate.listTools().map((t) => t.name));
 * ```
 *
 * @module
 */

export * from "./executor.ts";
export * from "./gate.ts";
