/**
 * The gate: every tool call of an agent passes through
 * {@linkcode AgentGate.callTool}, which runs the steps of this folder in the
 * order of the call's life. Each step is one module; each can end the call
 * with an MCP tool error (`isError: true`), and every call that gets past
 * step 4 ends with exactly one `outcome` record.
 *
 *  1. `01_resolve.ts`: the tool (an unknown name is a JSON-RPC error)
 *  2. `02_validate.ts`: the arguments; injection detection
 *  3. `03_trust.ts`: an OAuth caller's scopes against the tool's access; tier
 *     against access mode, HTTP method and override headers
 *  4. `04_rate_limit.ts`: the tool's sliding window
 *  5. `05_escalation.ts`: held for review until a person approves the exact
 *     call (`approvals.ts`, `inline.ts`); an approved call runs once
 *  6. `06_intent.ts`: the `intent` record, durable first from tier 2
 *  7. `07_secrets.ts`: the bridge's secrets, for its own origin only
 *  8. `08_execute.ts`: the bridge runs (deadline, size cap) in its executor
 *  9. `09_redact.ts`: released secrets leave the result and the record;
 *     then `output_schema.ts` checks the redacted result against the tool's
 *     `output_schema` (adding `structuredContent`, or ending as a tool error);
 *     then `output_scan.ts` looks for text written to steer the model
 *     (`runtime.output_scan`: flagged as fenced data, withheld, or off)
 * 10. `10_outcome.ts`: the `outcome` record, durable before the answer
 *
 * An agent whose config is `ai-generated` and not approved lists no tools
 * and refuses every call of one right after step 1 (`quarantine.ts`).
 *
 * Refusals at steps 1-4 have bounded records (`refuse.ts`); tier 1 calls that
 * ran while the log could not be written are counted (`unrecorded.ts`).
 *
 * With `metrics`, every call is counted once it is answered (`/metrics`:
 * outcome, denial reason or error kind, latency) in series the gate looks
 * up once per tool when it is built; a name the agent does not have is
 * counted under the tool `"unknown"`, never under the name the client sent.
 *
 * @module
 */

import type { AgentConfig } from "../../config/mod.ts";
import {
  type DenialReason,
  type LoomMetrics,
  type ToolCallSeries,
  UNKNOWN_TOOL_LABEL,
} from "../../_util/loom_metrics.ts";
import { RefusalCoalescer } from "../../security/audit/mod.ts";
import { RateLimiter } from "../../security/rate_limit/mod.ts";
import type { CallObservation } from "../../security/anomaly/mod.ts";
import { PatternWorker } from "../../security/validate/mod.ts";
import {
  type CallToolResult,
  type McpTool,
  type ToolCallContext,
  type ToolHost,
  UnknownToolError,
} from "../../mcp/mod.ts";
import { InProcessExecutor } from "./executor.ts";
import { denialOf, errorKindOf, GateCall, type GateParts } from "./call.ts";
import { UnrecordedCalls } from "./unrecorded.ts";
import { ApprovalDesk } from "./approvals.ts";
import {
  indexTools,
  refuseUnknownTool,
  type ToolEntry,
  type UpstreamToolSpec,
} from "./01_resolve.ts";
import { isQuarantined, refuseQuarantined } from "./quarantine.ts";
import { checkArguments, refuseArguments } from "./02_validate.ts";
import { checkTier } from "./03_trust.ts";
import { takeRate } from "./04_rate_limit.ts";
import { holdForReview } from "./05_escalation.ts";
import { recordIntent } from "./06_intent.ts";
import { isReleased, releaseSecrets } from "./07_secrets.ts";
import { executeCall } from "./08_execute.ts";
import { SiblingTools, type ToolInvoke } from "./composite.ts";
import { executeUpstream } from "./08_execute_upstream.ts";
import { redactExecuted } from "./09_redact.ts";
import { checkOutput } from "./output_schema.ts";
import { scanOutput } from "./output_scan.ts";
import { type PinHold, refuseChangedTool } from "./pin_hold.ts";
import { recordOutcome } from "./10_outcome.ts";
import type { AgentGateOptions } from "./gate_options.ts";

export type { AgentGateOptions };

/** One agent's tools behind the gate. */
export class AgentGate implements ToolHost {
  readonly config: AgentConfig;
  readonly #parts: GateParts;
  #entries: Map<string, ToolEntry>;
  #listed: McpTool[];
  /** True when the config is ai-generated and its bytes are not approved. */
  readonly quarantined: boolean;
  #callSeq = 0;
  /** Tools held until their changed definition is approved (set by the mesh). */
  readonly #pinHolds = new Map<string, PinHold>();
  readonly #callPrefix = crypto.randomUUID().slice(0, 8);
  /** Each tool's metric series, and the `"unknown"` tool's; null without metrics. */
  readonly #metrics: LoomMetrics | undefined;
  readonly #series: { byTool: Map<string, ToolCallSeries>; unknown: ToolCallSeries } | null;
  readonly #observe: ((call: CallObservation) => void) | undefined;

  /**
   * @param config a loaded config
   * @param options audit log and optional shared limiter, executor, broker
   */
  constructor(config: AgentConfig, options: AgentGateOptions) {
    this.config = config;
    this.#parts = {
      config,
      audit: options.audit,
      limiter: options.limiter ?? new RateLimiter(),
      executor: options.executor ?? new InProcessExecutor(),
      secrets: options.secrets,
      refusals: new RefusalCoalescer(options.audit, config.name, options.refusals),
      patterns: new PatternWorker(),
      unrecorded: new UnrecordedCalls(options.audit, config.name, config.runtime.auditFailure),
      approvals: options.approvals &&
        new ApprovalDesk(options.approvals, options.audit, config.name),
      upstream: options.upstream?.caller,
      siblings: new SiblingTools(),
    };
    const upstream = options.upstream;
    this.#entries = indexTools(
      config,
      upstream && { origin: upstream.caller.origin, tools: upstream.tools },
    );
    // A composite's steps call this gate's own tools, unless told otherwise.
    this.#parts.siblings.invoke = options.invoke ??
      ((name, args, ctx) => this.callTool(name, args, ctx));
    this.quarantined = isQuarantined(config, options.configApproval);
    this.#listed = this.quarantined ? [] : [...this.#entries.values()].map((e) => e.listed);
    this.#observe = options.observe;
    const metrics = options.metrics;
    this.#metrics = metrics;
    this.#series = metrics === undefined ? null : {
      byTool: new Map(
        [...this.#entries.keys()].map((t) => [t, metrics.toolSeries(config.name, t)]),
      ),
      unknown: metrics.toolSeries(config.name, UNKNOWN_TOOL_LABEL),
    };
  }

  /**
   * Send a composite tool's steps elsewhere: the mesh routes each to the
   * gate of the agent that serves the tool.
   *
   * @param invoke calls a tool by its served name
   */
  routeSteps(invoke: ToolInvoke): void {
    this.#parts.siblings.invoke = invoke;
  }

  /** The tools as MCP lists them. */
  listTools(): readonly McpTool[] {
    return this.#listed;
  }

  /**
   * Gateway mode: serve the upstream's tools as listed again (its tools
   * changed, or it restarted). Calls from here on see the new set; a held
   * tool stays held (its pins are checked again by the caller), and the hold
   * of a tool no longer served is dropped.
   *
   * @param tools the tools the agent now serves of its upstream
   * @throws {TypeError} when the agent has no upstream
   */
  setUpstreamTools(tools: readonly UpstreamToolSpec[]): void {
    const caller = this.#parts.upstream;
    if (caller === undefined) throw new TypeError(`Agent "${this.config.name}" has no upstream`);
    const entries = indexTools(this.config, { origin: caller.origin, tools });
    for (const tool of this.#pinHolds.keys()) if (!entries.has(tool)) this.#pinHolds.delete(tool);
    this.#entries = entries;
    const metrics = this.#metrics;
    if (this.#series !== null && metrics !== undefined) {
      for (const tool of entries.keys()) {
        if (!this.#series.byTool.has(tool)) {
          this.#series.byTool.set(tool, metrics.toolSeries(this.config.name, tool));
        }
      }
    }
    if (!this.quarantined) this.#listed = [...entries.values()].map((e) => e.listed);
  }

  /**
   * Write the pending refusal summaries (and the count of unrecorded calls,
   * if the log is writable again), then release the executor (stops a
   * sandbox host process). Call it before closing the audit log.
   */
  async close(): Promise<void> {
    const parts = this.#parts;
    try {
      await parts.refusals.close();
      await parts.unrecorded.flush();
    } finally {
      parts.patterns.close();
      await parts.approvals?.close();
      await Promise.all([parts.executor.close(), parts.upstream?.close()]);
    }
  }

  /**
   * Run one call through every step of the gate.
   *
   * @param name tool name from the client
   * @param args raw arguments from the client
   * @param ctx cancellation signal and client identity
   * @returns a tool result; failures are `isError: true` results
   * @throws {UnknownToolError} when the agent has no such tool
   */
  async callTool(name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult> {
    const call = new GateCall(`${this.#callPrefix}-${++this.#callSeq}`, name, ctx);
    const metrics = this.#series;
    if (metrics === null && this.#observe === undefined) return await this.#run(call, args);
    const series = metrics === null ? undefined : metrics.byTool.get(name) ?? metrics.unknown;
    let result: CallToolResult;
    try {
      result = await this.#run(call, args);
    } catch (error) {
      // An unknown name (its refusal is recorded), or a failure of LOOM itself.
      if (error instanceof UnknownToolError) {
        series?.finished(call.elapsed() / 1000, "unknown_tool", null);
        this.#observed(call, "unknown_tool");
      } else {
        series?.finished(call.elapsed() / 1000, call.denial, "internal");
        this.#observed(call, call.denial);
      }
      throw error;
    }
    const denial = denialOf(call);
    series?.finished(call.elapsed() / 1000, denial, errorKindOf(call, result));
    this.#observed(call, denial);
    return result;
  }

  /** Tell the observer of a finished call (a name the agent lacks has no tool). */
  #observed(call: GateCall, denial: DenialReason | null, hidden = false): void {
    const observe = this.#observe;
    if (observe === undefined) return;
    const tool = !hidden && this.#entries.has(call.tool) ? call.tool : null;
    try {
      observe({ tool, status: call.status, denial });
    } catch {
      // An observer's failure never changes a call's answer.
    }
  }

  /**
   * Hold a tool whose definition changed since it was pinned: its calls are
   * refused (`pin_hold.ts`) until {@linkcode AgentGate.releaseTool}.
   *
   * @param tool the tool's own name
   * @param hold the digests and the changed fields, for the refusal
   * @param pinned the pinned definition's listing: listed instead of the
   *   changed one until the hold is released, so the changed text reaches
   *   no client
   */
  holdTool(tool: string, hold: PinHold, pinned?: McpTool): void {
    this.#pinHolds.set(tool, Object.freeze({ ...hold, changed: Object.freeze([...hold.changed]) }));
    if (pinned !== undefined) this.#relist(tool, pinned);
  }

  /** Replace one tool's listing (a new array, so a listing handed out stays as it was). */
  #relist(tool: string, listed: McpTool): void {
    if (this.quarantined) return;
    this.#listed = this.#listed.map((entry) => entry.name === tool ? listed : entry);
  }

  /** Serve a held tool again (its change was approved). */
  releaseTool(tool: string): void {
    this.#pinHolds.delete(tool);
    const entry = this.#entries.get(tool);
    if (entry !== undefined) this.#relist(tool, entry.listed);
  }

  /** The tools held now, with why. */
  heldTools(): ReadonlyMap<string, PinHold> {
    return this.#pinHolds;
  }

  /**
   * Refuse a name as unknown without looking it up: for a mesh, a tool this
   * agent has but the client's filter hides. Recorded (and counted) exactly
   * like a name the agent does not have.
   *
   * @param name tool name from the client
   * @param ctx the call's context
   * @throws {UnknownToolError} always
   */
  async refuseUnknown(name: string, ctx: ToolCallContext): Promise<never> {
    const call = new GateCall(`${this.#callPrefix}-${++this.#callSeq}`, name, ctx);
    try {
      return await refuseUnknownTool(this.#parts, call);
    } finally {
      this.#series?.unknown.finished(call.elapsed() / 1000, "unknown_tool", null);
      this.#observed(call, "unknown_tool", true);
    }
  }

  async #run(call: GateCall, args: unknown): Promise<CallToolResult> {
    const parts = this.#parts;
    const entry = this.#entries.get(call.tool);
    if (entry === undefined) return await refuseUnknownTool(parts, call);
    if (this.quarantined) {
      call.denial = "quarantined";
      return await refuseQuarantined(parts, call);
    }
    const hold = this.#pinHolds.get(call.tool);
    if (hold !== undefined) {
      call.denial = "tool_changed";
      return await refuseChangedTool(parts, call, hold);
    }

    let checked = checkArguments(parts, entry, args);
    if (checked instanceof Promise) checked = await checked;
    if (!checked.ok) {
      call.denial = checked.findings.length > 0 ? "injection" : "invalid";
      return await refuseArguments(parts, call, checked);
    }
    const input = checked.value;

    const untiered = checkTier(parts, call, entry);
    if (untiered !== null) {
      call.denial = "tier";
      return await untiered;
    }
    const limited = takeRate(parts, call, entry);
    if (limited !== null) {
      call.denial = "rate_limit";
      return await limited;
    }
    const held = holdForReview(parts, call, entry, input, checked.findings);
    if (held !== null) {
      const answer = await held;
      if (answer !== null) return answer;
    }

    const unrecordable = recordIntent(parts, call, entry, input, checked.findings);
    if (unrecordable !== null) {
      const refused = await unrecordable;
      if (refused !== null) {
        call.denial = "audit_unavailable";
        return refused;
      }
    }

    const releasing = releaseSecrets(parts, call, entry);
    const released = releasing instanceof Promise ? await releasing : releasing;
    if (!isReleased(released)) return released;

    const executed = scanOutput(
      parts,
      call,
      checkOutput(
        entry,
        redactExecuted(
          await (entry.target.kind === "upstream"
            ? executeUpstream(parts, call, entry.target.name, input)
            : executeCall(parts, call, entry, input, released)),
          released,
        ),
      ),
    );
    return await recordOutcome(parts, call, executed.status, executed.result, executed.fields);
  }
}
