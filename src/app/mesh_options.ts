/**
 * What a mesh is opened with (`Mesh.open`, `mesh.ts`): the home, audit log
 * and environment every agent shares, idle stop, registry, metrics,
 * watching, and which tools clients see.
 *
 * @module
 */

import type { AgentRegistry, LoomHome } from "../store/mod.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import type { MeshLoadOptions } from "./mesh_load.ts";
import type { MeshReloadReport } from "./mesh_reload.ts";

/** How long an agent's host process may stay idle in a mesh before it is stopped: 5 minutes. */
export const MESH_IDLE_MS = 5 * 60_000;

/** How long the directory must be quiet before a reload: editors write in several steps. */
export const MESH_RELOAD_DEBOUNCE_MS = 200;

/** What {@linkcode Mesh.open} needs. */
export interface MeshOptions extends MeshLoadOptions {
  home: LoomHome;
  audit: AuditLog;
  /** The environment (`LOOM_MASTER_KEY` for brokers). */
  env: { get(key: string): string | undefined };
  /** The server's version, announced at initialize. */
  version: string;
  /** Stop an agent's host process after this long without calls (default {@linkcode MESH_IDLE_MS}). */
  idleMs?: number;
  /** A line for the operator (stderr). */
  log(line: string): void;
  /**
   * The agent registry (`loom list`): every agent is registered in one batch
   * once open (transport `mesh`; a config refused by its signature check as
   * `skipped`), touched by its calls, and marked stopped on close. The
   * registry reports its own failures (once) and never stops the mesh.
   */
  registry?: AgentRegistry;
  /** The process's metrics (`/metrics`), shared by every agent. */
  metrics?: LoomMetrics;
  /** Watch the directory and reload on changes (default false; `loom mesh` watches). */
  watch?: boolean;
  /** Quiet time before a reload (default {@linkcode MESH_RELOAD_DEBOUNCE_MS}). */
  debounceMs?: number;
  /** Told what each reload did (refusals included). */
  onReload?(report: MeshReloadReport): void;
  /**
   * Expose only the tools these patterns match (`--tools`, a profile; see
   * `mesh_exposure.ts`): the others are neither listed nor callable.
   */
  tools?: readonly string[];
  /** List the two discovery tools instead of the tools (`mesh_discovery.ts`). */
  discovery?: boolean;
  /** How often held tools are checked for an approval (default `PIN_POLL_MS`, `mesh_pins.ts`). */
  pinPollMs?: number;
}
