/**
 * What the steps of the gate share: the agent's parts (built once per gate)
 * and one call's state (built once per call). Each step is a function of
 * these; none keeps state of its own.
 *
 * @module
 */

import type { AgentConfig } from "../../config/mod.ts";
import type { AuditLog, RefusalCoalescer } from "../../security/audit/mod.ts";
import type { RateLimiter } from "../../security/rate_limit/mod.ts";
import type { PatternWorker } from "../../security/validate/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import type { BridgeExecutor } from "./executor.ts";
import type { SecretSource } from "./07_secrets.ts";
import type { UnrecordedCalls } from "./unrecorded.ts";

/** One agent's parts, as every step sees them. */
export interface GateParts {
  readonly config: AgentConfig;
  readonly audit: AuditLog;
  readonly limiter: RateLimiter;
  readonly executor: BridgeExecutor;
  /** The credential broker; without one, a bridge naming a secret fails closed. */
  readonly secrets: SecretSource | undefined;
  readonly refusals: RefusalCoalescer;
  /** Tests the patterns that are not inline-safe, off this thread (started on first use). */
  readonly patterns: PatternWorker;
  readonly unrecorded: UnrecordedCalls;
}

/** One call on its way through the gate. */
export class GateCall {
  /** Unique within the process's lifetime: `<8 hex>-<n>`. */
  readonly id: string;
  /** The tool name the client asked for (not necessarily one the agent has). */
  readonly tool: string;
  /** The client's name from its `initialize`, when it gave one. */
  readonly client: string | null;
  /** Cancellation, session and client identity, from the engine. */
  readonly ctx: ToolCallContext;
  readonly #started = performance.now();
  /** Set just before the bridge runs (step 8): from then on the call has had an effect. */
  executed = false;
  /**
   * The intent record, once step 6 queued it; the outcome is answered only
   * after it is durable too.
   */
  intent: Promise<unknown> | null = null;

  constructor(id: string, tool: string, ctx: ToolCallContext) {
    this.id = id;
    this.tool = tool;
    this.ctx = ctx;
    this.client = ctx.client?.name ?? null;
  }

  /** Milliseconds since the call arrived, to the microsecond. */
  elapsed(): number {
    return Math.round((performance.now() - this.#started) * 1000) / 1000;
  }
}

/** An MCP tool error: how every step that stops a call answers. */
export function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}
