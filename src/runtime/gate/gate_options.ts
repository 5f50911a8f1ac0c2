/**
 * What an `AgentGate` (`gate.ts`) is built with: its audit log, and the parts
 * a caller may share or replace (rate limiter, executor, broker, approvals,
 * metrics, a gateway's upstream, an observer of finished calls, where a
 * composite's steps go).
 *
 * @module
 */

import type { LoomMetrics } from "../../_util/loom_metrics.ts";
import type { AuditLog, RefusalOptions } from "../../security/audit/mod.ts";
import type { RateLimiter } from "../../security/rate_limit/mod.ts";
import type { CallObservation } from "../../security/anomaly/mod.ts";
import type { BridgeExecutor } from "./executor.ts";
import type { ApprovalDeskOptions } from "./approvals.ts";
import type { UpstreamToolSpec } from "./01_resolve.ts";
import type { ConfigApprovalState } from "./quarantine.ts";
import type { SecretSource } from "./07_secrets.ts";
import type { ToolInvoke } from "./composite.ts";
import type { UpstreamCaller } from "./08_execute_upstream.ts";

/** Options of a gate. */
export interface AgentGateOptions {
  /** The audit log every call is recorded in. */
  audit: AuditLog;
  /** Shared rate limiter (a mesh passes one for all agents). */
  limiter?: RateLimiter;
  /** Where bridges run; default in-process. */
  executor?: BridgeExecutor;
  /** The credential broker; without one, a bridge naming a secret fails closed. */
  secrets?: SecretSource;
  /** The refusal record budget (window, per-client and total caps, clock). */
  refusals?: RefusalOptions;
  /**
   * Approvals of held calls: the LOOM home whose state database keeps them
   * (and, for tests, limits and clock). Without it a held call is refused.
   */
  approvals?: ApprovalDeskOptions;
  /**
   * The approval of an `ai-generated` config's exact bytes, as the builder
   * found it in the state database; without one such a config serves nothing.
   */
  configApproval?: ConfigApprovalState | null;
  /** The process's metrics; the gate counts its calls there. Default: none. */
  metrics?: LoomMetrics;
  /**
   * Gateway mode: the agent's MCP upstream and the tools it serves of it
   * (chosen, renamed, their schemas checked and their definitions pinned by
   * the agent, `src/app/upstream_agent.ts`). The gate closes the upstream.
   */
  upstream?: { caller: UpstreamCaller; tools: readonly UpstreamToolSpec[] };
  /**
   * Told once of every finished call (anomaly detection): the tool when the
   * agent has it, its outcome's status and why it was refused. It runs
   * before the answer returns: keep it cheap; what it throws is ignored.
   */
  observe?: (call: CallObservation) => void;
  /**
   * Where a composite tool's steps go: a tool by its served name, through
   * its owner's gate. Default: this gate's own tools (`loom run`); the mesh
   * routes them with `AgentGate.routeSteps()`.
   */
  invoke?: ToolInvoke;
}
