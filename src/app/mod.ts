/**
 * The application layer: a config becomes a served agent, and a served LOOM
 * stops in order. `loom run` uses it for one agent; the mesh will use the
 * same pieces for many behind one connection.
 *
 * - {@linkcode ServedAgent}: broker, executor (sandbox), gate, engine and
 *   lifecycle records of one agent, built in one place;
 * - `lifecycle.ts`: the `agent_lifecycle` and `sandbox_lifecycle` records;
 * - {@linkcode Mesh}: many served agents behind one engine (`mesh.ts`), the
 *   configs of its directory and their served tool names (`mesh_load.ts`);
 * - `shutdown.ts`: signals and ending stdin in order.
 *
 * @module
 */

export { recordAgent, sandboxRecorder } from "./lifecycle.ts";
export {
  Mesh,
  MESH_IDLE_MS,
  type MeshAgentStatus,
  type MeshOptions,
  type MeshReloadReport,
} from "./mesh.ts";
export {
  MAX_TOOL_NAME_LENGTH,
  meshConfigFiles,
  NAMESPACE_SEPARATOR,
  servedToolName,
  type SkippedConfig,
} from "./mesh_load.ts";
export { configNeedsSecrets, ServedAgent, type ServedAgentOptions } from "./served_agent.ts";
export { pinServedAgent } from "./mesh_pins.ts";
export {
  localTimeZone,
  MeshScheduler,
  type ScheduleClock,
  type ScheduleOptions,
} from "./mesh_schedule.ts";
export { endOn, type StopSignals, watchStopSignals } from "./shutdown.ts";
