/**
 * The gate: every tool call of an agent passes through {@linkcode AgentGate.callTool},
 * whose steps run in this order. Each step can stop the call with an MCP tool
 * error (`isError: true`).
 *
 *  1. resolve the tool (unknown name -> JSON-RPC error)
 *  2. validate the arguments; detect injection
 *  3. trust check: tier vs access mode, HTTP method and override headers
 *  4. rate limit
 *  5. escalation: a call an `escalation_rules` entry matches, and every write
 *     call of a tier 4 agent, is held for review. Approvals are not available
 *     yet, so a held call is refused ("held for review") with one `held`
 *     outcome naming the rule; it never runs
 *  6. audit `intent`: durable before any side effect for tier 2 and above
 *  7. secrets for the bridge's own origin
 *  8. execute the bridge (deadline, size cap, manual redirects, shaping)
 *  9. redact secrets from result and audit
 * 10. audit `outcome`, durable before the result is returned
 *
 * Refusals at steps 1-4 cost a client nothing, so their records are bounded:
 * a {@linkcode RefusalCoalescer} gives a refusal its own record only within a
 * budget per client (the MCP session, or stdio), tool, kind and window, and
 * counts the rest into `refusal_summary` records. One client looping on
 * refused calls cannot fill the disk, nor hide another client's refusals.
 * Held calls come after the rate limit and keep one record each, as every
 * executed call keeps its intent and outcome. Injection findings of a call
 * that runs (`injection: audit`) are one record, at most 8 findings and their
 * total.
 *
 * At tier 1 the intent is deferred: it takes its place in the chain at step
 * 6 but is written with the outcome, so a read costs one `fdatasync`, not two
 * in a row. From tier 2 the intent is synced before anything runs, so no such
 * call runs while the log cannot be written. For tier 1,
 * `runtime.audit_failure` decides: once the log is known to fail (a write
 * failed and none succeeded since), `refuse` (the default) makes the intent
 * durable first and refuses the call if it cannot be, `allow` lets the call
 * run. A tier 1 call that ran without any record (under `allow`, or under
 * `refuse` when it was already past step 6 as the log failed) is counted, and
 * once a write succeeds again an `audit_recovery` record (`unrecorded_calls`)
 * says how many ran, per tool, and over which time span.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { AgentConfig, BridgeSpec, ToolSpec } from "../config/mod.ts";
import { canonicalJson } from "../_util/canonical_json.ts";
import { Deadlines } from "../_util/deadlines.ts";
import { formatDuration } from "../_util/units.ts";
import { LoomError } from "../errors.ts";
import {
  type AuditEntryInput,
  type AuditLog,
  type Refusal,
  RefusalCoalescer,
  type RefusalKind,
  type RefusalOptions,
} from "../security/audit/mod.ts";
import {
  compileEscalation,
  decideEscalation,
  type EscalationPolicy,
} from "../security/escalation/mod.ts";
import type { ResolveRequest } from "../security/secrets/mod.ts";
import { decideTier, requiresApproval } from "../security/trust/mod.ts";
import { RateLimiter } from "../security/rate_limit/mod.ts";
import {
  type InjectionFinding,
  PatternWorker,
  settlePatterns,
  toolInputSchema,
  validateArguments,
} from "../security/validate/mod.ts";
import { bridgeSecretNames, bridgeTarget, UpstreamStatusError } from "../upstream/mod.ts";
import { type BridgeExecutor, InProcessExecutor } from "./executor.ts";
import {
  type CallToolResult,
  type McpTool,
  type ToolCallContext,
  type ToolHost,
  UnknownToolError,
} from "../mcp/mod.ts";

/** Outcome statuses written to the audit log. */
export type CallStatus = "success" | "error" | "timeout" | "denied" | "invalid" | "held";

/** What the gate asks of the credential broker (step 7). */
export interface SecretSource {
  /**
   * Resolve the secrets a bridge names, for that bridge's own origin only.
   * Audits every resolution; refuses unless the agent's grant is pinned to
   * this config's digest. A refusal's `message` (which problem, and the
   * command that fixes it, naming `configPath`; never a value) becomes the
   * tool error, and its `reason` code goes into the outcome record.
   */
  resolve(request: ResolveRequest): Promise<
    | { ok: true; values: Map<string, string>; redactor: Redaction }
    | { ok: false; name: string; reason: string; message?: string }
  >;
}

/** Removes resolved secret values from text and JSON (step 9). */
export interface Redaction {
  redact(text: string): string;
  redactJson(value: unknown): unknown;
}

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
}

interface Entry {
  tool: ToolSpec;
  bridge: BridgeSpec;
  listed: McpTool;
  origin: string;
  secretNames: readonly string[];
  /** The escalation rules that can hold this tool's calls; null when nothing can. */
  escalation: EscalationPolicy | null;
}

/** Tier 1 calls that ran while their records could not be written. */
interface Unrecorded {
  calls: number;
  counts: Map<string, number>;
  first: number;
  last: number;
}

const ARG_TEXT_LIMIT = 256;
/** Injection findings recorded per call; the record also says how many there were. */
const MAX_RECORDED_FINDINGS = 8;

/** One agent's tools behind the gate. */
export class AgentGate implements ToolHost {
  readonly config: AgentConfig;
  #audit: AuditLog;
  #limiter: RateLimiter;
  #executor: BridgeExecutor;
  #secrets: SecretSource | undefined;
  #refusals: RefusalCoalescer;
  #unrecorded: Unrecorded | null = null;
  #reporting: Promise<void> | null = null;
  #entries = new Map<string, Entry>();
  /** Tests the patterns that are not inline-safe, off this thread (started on first use). */
  #patterns = new PatternWorker();
  #listed: McpTool[];
  #callSeq = 0;
  #callPrefix = crypto.randomUUID().slice(0, 8);

  /**
   * @param config a loaded config
   * @param options audit log and optional shared limiter
   */
  constructor(config: AgentConfig, options: AgentGateOptions) {
    this.config = config;
    this.#audit = options.audit;
    this.#limiter = options.limiter ?? new RateLimiter();
    this.#executor = options.executor ?? new InProcessExecutor();
    this.#secrets = options.secrets;
    this.#refusals = new RefusalCoalescer(options.audit, config.name, options.refusals);
    const escalation = compileEscalation(config.escalationRules);
    for (const tool of config.tools) {
      const bridge = config.bridges.find((b) => b.toolName === tool.name);
      if (!bridge) throw new TypeError(`Tool "${tool.name}" has no bridge`);
      const target = bridgeTarget(bridge);
      const rules = escalation.forTool(tool.name, tool.access);
      this.#entries.set(tool.name, {
        tool,
        bridge,
        origin: target.origin,
        secretNames: bridgeSecretNames(bridge),
        escalation:
          rules.rules.length > 0 || requiresApproval(config.runtime.trustTier, tool.access)
            ? rules
            : null,
        listed: {
          name: tool.name,
          description: tool.description,
          inputSchema: toolInputSchema(tool) as unknown as Record<string, unknown>,
          annotations: {
            readOnlyHint: tool.access === "read",
            destructiveHint: bridge.method === "DELETE",
            openWorldHint: true,
          },
        },
      });
    }
    this.#listed = [...this.#entries.values()].map((e) => e.listed);
  }

  /** The tools as MCP lists them. */
  listTools(): readonly McpTool[] {
    return this.#listed;
  }

  /**
   * Write the pending refusal summaries (and the count of unrecorded calls,
   * if the log is writable again), then release the executor (stops a
   * sandbox host process). Call it before closing the audit log.
   */
  async close(): Promise<void> {
    try {
      await this.#refusals.close();
      this.#reportUnrecorded();
      if (this.#reporting !== null) await this.#reporting;
    } finally {
      this.#patterns.close();
      await this.#executor.close();
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
    const started = performance.now();
    const agent = this.config.name;
    const runtime = this.config.runtime;
    const call = `${this.#callPrefix}-${++this.#callSeq}`;
    const client = ctx.client?.name ?? null;

    // 1. resolve
    const entry = this.#entries.get(name);
    if (!entry) {
      await this.#refuse(ctx, null, "unknown_tool", (session) => ({
        event: "tool_call",
        agent,
        tool: null,
        call,
        phase: "outcome",
        status: "invalid",
        error: "unknown tool",
        client,
        session,
      }));
      throw new UnknownToolError(name);
    }
    const { tool, bridge, origin, secretNames } = entry;
    // Set just before the bridge runs: from then on the call has had an effect.
    let executed = false;
    // The intent, once step 6 queued it; the outcome is answered only after it
    // is durable too.
    let intent: Promise<unknown> | null = null;
    // Record the call's one outcome, durably, before answering with `result`.
    const finish = async (
      status: CallStatus,
      result: CallToolResult,
      extra: Record<string, unknown>,
    ): Promise<CallToolResult> => {
      const written = this.#audit.append({
        event: "tool_call",
        agent,
        tool: name,
        call,
        phase: "outcome",
        status,
        duration_ms: elapsed(started),
        client,
        ...extra,
      });
      try {
        if (intent !== null) await intent;
        await written;
      } catch {
        written.catch(() => {});
        if (executed && runtime.trustTier < 2) {
          // A read ran with no record: counted, and reported once the log is back.
          this.#countUnrecorded(name);
          if (runtime.auditFailure === "allow") return result;
        }
        return toolError("Audit log unavailable: the outcome could not be recorded");
      }
      if (this.#unrecorded !== null) this.#reportUnrecorded();
      return result;
    };
    const outcome = (
      status: CallStatus,
      message: string,
      extra: Record<string, unknown> = {},
    ): Promise<CallToolResult> => finish(status, toolError(message), { error: message, ...extra });

    // 2. validate and detect injection (findings of a call that goes on are
    // recorded with its intent, step 6)
    let checked = validateArguments(tool, args, { injection: runtime.injection });
    // Only a call with a string for a pattern that is not inline-safe awaits
    // here: its match runs in a worker, within a deadline.
    if (checked.ok && checked.pending !== undefined) {
      checked = await settlePatterns(checked, this.#patterns);
    }
    if (!checked.ok) {
      const finding = checked.findings[0];
      if (finding) {
        return await this.#deny(ctx, call, name, started, client, "injection", {
          action: "injection_attempt",
          detail: checked.error.message,
          field: finding.field,
          category: finding.category,
          pattern: finding.pattern,
        });
      }
      const message = checked.error.message;
      return await this.#refuse(ctx, name, "invalid", (session) => ({
        event: "tool_call",
        agent,
        tool: name,
        call,
        phase: "outcome",
        status: "invalid",
        duration_ms: elapsed(started),
        client,
        session,
        error: message,
        field: checked.error.field,
      }), message);
    }
    const input = checked.value;

    // 3. trust tier (checked at load, and again here)
    const tier = decideTier({
      tier: runtime.trustTier,
      access: tool.access,
      method: bridge.method,
      headers: Object.entries(bridge.headers),
    });
    if (!tier.allow) {
      return await this.#deny(ctx, call, name, started, client, "tier", {
        action: tier.action,
        detail: tier.reason,
        tier: runtime.trustTier,
      });
    }

    // 4. rate limit
    const limit = tool.rateLimit ?? runtime.rateLimit;
    const taken = this.#limiter.take(`${agent}\u0000${name}`, limit);
    if (!taken.allow) {
      const retry = formatDuration(Math.ceil(taken.retryAfterMs));
      return await this.#deny(ctx, call, name, started, client, "rate_limit", {
        action: "rate_limit",
        detail: `Rate limit of ${limit.limit} calls per ${formatDuration(limit.windowMs)} ` +
          `exceeded: retry in ${retry}`,
        limit: limit.limit,
        window_ms: limit.windowMs,
        retry_after_ms: Math.ceil(taken.retryAfterMs),
      });
    }

    // 5. escalation: a held call is refused until approvals exist. One record
    // each: held calls come after the rate limit, so they are bounded by it.
    if (entry.escalation !== null) {
      const decision = decideEscalation(entry.escalation, {
        tier: runtime.trustTier,
        tool: name,
        access: tool.access,
        args: input,
      });
      if (decision.hold) {
        const message = `Call held for review by rule "${decision.rule}": approvals are not ` +
          "available in this version yet, so the call was not run";
        return await finish("held", toolError(message), {
          error: message,
          rule: decision.rule,
          reason: decision.reason,
          held_by: decision.by,
          ...findingsFields(checked.findings),
        });
      }
    }

    // 6. audit intent. Tier 2+ waits for durability before any side effect
    // (fail closed, the Vault blocked-device rule); a tier 1 read defers its
    // intent to the outcome's commit, and still answers only once both are
    // durable. While the log is known to fail, a tier 1 intent under
    // `audit_failure: refuse` is made durable first, as at tier 2.
    if (checked.findings.length > 0) {
      this.#audit.append({
        event: "trust_violation",
        agent,
        tool: name,
        call,
        action: "injection_attempt",
        severity: "high",
        decision: "audit",
        ...findingsFields(checked.findings),
        client,
      }, { defer: true }).catch(() => {});
    }
    const mustSync = runtime.trustTier >= 2 ||
      (runtime.auditFailure === "refuse" && !this.#audit.writable);
    const summary = summarizeArgs(input);
    const written = this.#audit.append({
      event: "tool_call",
      agent,
      tool: name,
      call,
      phase: "intent",
      method: bridge.method,
      args: summary.args,
      // Whole arguments are covered by the record's own hash; a digest is
      // needed only to match arguments the summary shortened.
      ...(summary.shortened ? { args_digest: digest(input) } : {}),
      tier: runtime.trustTier,
      client,
    }, { defer: !mustSync });
    written.catch(() => {}); // observed in `finish`
    if (mustSync) {
      try {
        await written;
      } catch {
        return toolError("Audit log unavailable: call not executed");
      }
    }
    intent = written;

    // 7. secrets: only the names this bridge's templates use, only for its own
    // origin, only under a grant pinned to this config's digest. Fail closed.
    // A refusal tells the client which problem it is (not set, not granted,
    // granted to an older config) and the command that fixes it.
    let secrets: ReadonlyMap<string, string> = NO_SECRETS;
    let redaction: Redaction | null = null;
    if (secretNames.length > 0) {
      const resolved = this.#secrets
        ? await this.#secrets.resolve({
          agent,
          configDigest: this.config.source.digest,
          names: secretNames,
          origin,
          tool: name,
          call,
          configPath: this.config.source.path,
        }).catch(() => unavailable(secretNames[0], "broker_failed"))
        : unavailable(secretNames[0], "no_broker");
      if (!resolved.ok) {
        const message = resolved.message ??
          `Secret "${resolved.name}" is not available to this agent`;
        return await outcome("denied", message, { key: resolved.name, reason: resolved.reason });
      }
      secrets = resolved.values;
      redaction = resolved.redactor;
    }

    // 8. execute within the whole-call deadline. One controller carries both
    // the client's cancellation and the deadline; its timer is cleared when
    // the call ends, so nothing of the call outlives it.
    const deadline = new CallDeadline(ctx.signal, runtime.maxExecutionTimeMs);
    let result: CallToolResult;
    let status: CallStatus;
    let extra: Record<string, unknown>;
    executed = true;
    try {
      const res = await this.#executor.run(bridge, input, {
        signal: deadline.signal,
        maxResponseBytes: runtime.maxResponseBytes,
        allowNetworks: runtime.allowNetworks,
        secrets,
      });
      status = "success";
      result = { content: [{ type: "text", text: res.text }] };
      extra = {
        // Keys in canonical order: serialised in one native call.
        http: { bytes: res.bytes, method: res.method, status: res.status, url: res.url },
      };
    } catch (error) {
      const err = asLoomError(error, runtime.maxExecutionTimeMs, deadline.expired);
      status = err.code === "UPSTREAM_TIMEOUT" ? "timeout" : "error";
      if (err instanceof UpstreamStatusError) {
        // The upstream's own text is redacted whole before it is cut for the
        // message; the log keeps the status and a digest of what was shown.
        const shownErr = redaction
          ? new UpstreamStatusError(err.status, redaction.redact(err.detail))
          : err;
        result = toolError(shownErr.message);
        extra = { error: err.statusLine, code: err.code, upstream_status: err.status };
        const shown = shownErr.excerpt;
        if (shown !== "") {
          extra.error_excerpt_sha256 = createHash("sha256").update(shown).digest("hex");
        }
      } else {
        result = toolError(err.message);
        extra = { error: err.message, code: err.code };
      }
    } finally {
      deadline.clear();
    }

    // 9. redaction: every resolved secret value leaves the result, the error
    // text and the audit fields, in every encoding the redactor knows.
    if (redaction) {
      result = {
        ...result,
        content: result.content.map((c) => ({ ...c, text: redaction.redact(c.text) })),
      };
      extra = redaction.redactJson(extra) as Record<string, unknown>;
    }

    // 10. outcome, durable (with the intent) before the answer
    return await finish(status, result, extra);
  }

  /** A refusal by policy (steps 2-4) as a `trust_violation` outcome. */
  #deny(
    ctx: ToolCallContext,
    call: string,
    tool: string,
    started: number,
    client: string | null,
    kind: RefusalKind,
    fields: { action: string; detail: string } & Record<string, unknown>,
  ): Promise<CallToolResult> {
    return this.#refuse(ctx, tool, kind, (session) => ({
      event: "trust_violation",
      agent: this.config.name,
      tool,
      call,
      phase: "outcome",
      status: "denied",
      severity: "high",
      duration_ms: elapsed(started),
      client,
      session,
      ...fields,
    }), fields.detail);
  }

  /**
   * Refuse a call before it runs: its own record, durable before the answer,
   * if the refusal budget admits one; otherwise only counted for the
   * window's summary (no I/O at all).
   */
  async #refuse(
    ctx: ToolCallContext,
    tool: string | null,
    kind: RefusalKind,
    record: (session: string) => AuditEntryInput,
    message = "",
  ): Promise<CallToolResult> {
    const refusal: Refusal = { client: clientKey(ctx.sessionId), tool, kind };
    if (this.#refusals.admit(refusal)) {
      try {
        await this.#audit.append(record(refusal.client));
      } catch {
        this.#refusals.tally(refusal);
        return toolError("Audit log unavailable: the refusal could not be recorded");
      }
    }
    return toolError(message);
  }

  #countUnrecorded(tool: string): void {
    const now = Date.now();
    const u = this.#unrecorded ??= { calls: 0, counts: new Map(), first: now, last: now };
    u.calls++;
    u.counts.set(tool, (u.counts.get(tool) ?? 0) + 1);
    u.last = now;
  }

  /** Record how many tier 1 calls ran unrecorded; kept for later if that fails too. */
  #reportUnrecorded(): void {
    const u = this.#unrecorded;
    if (u === null || this.#reporting !== null) return;
    this.#unrecorded = null;
    this.#reporting = this.#audit.append({
      event: "audit_recovery",
      agent: this.config.name,
      tool: null,
      action: "unrecorded_calls",
      calls: u.calls,
      counts: Object.fromEntries(u.counts),
      first_at: new Date(u.first).toISOString(),
      last_at: new Date(u.last).toISOString(),
      audit_failure: this.config.runtime.auditFailure,
    }).then(
      () => {},
      () => {
        const later = this.#unrecorded;
        if (later !== null) {
          u.calls += later.calls;
          for (const [tool, n] of later.counts) u.counts.set(tool, (u.counts.get(tool) ?? 0) + n);
          u.last = later.last;
        }
        this.#unrecorded = u;
      },
    ).finally(() => {
      this.#reporting = null;
    });
  }
}

/**
 * The client a refusal budget is kept for: the MCP session on HTTP, the one
 * connection on stdio. Session ids let whoever knows them post into the
 * session, so only a short hash of one is recorded.
 */
function clientKey(sessionId: string | null): string {
  if (sessionId === null) return "stdio";
  return "session:" + createHash("sha256").update(sessionId).digest("hex").slice(0, 16);
}

/** A call's injection findings as recorded: the first 8 and the total. */
function findingsFields(findings: readonly InjectionFinding[]): Record<string, unknown> {
  if (findings.length === 0) return {};
  return {
    findings: findings.slice(0, MAX_RECORDED_FINDINGS).map((f) => ({
      category: f.category,
      field: f.field,
      pattern: f.pattern,
    })),
    findings_total: findings.length,
  };
}

const NO_SECRETS: ReadonlyMap<string, string> = new Map();
/** Every call's deadline in this process, on shared timers. */
const CALL_DEADLINES = new Deadlines();

function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

function digest(value: unknown): string {
  return "sha256:" + createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/**
 * Arguments as recorded: long strings are cut so a record stays small.
 * `shortened` says whether anything was cut.
 */
function summarizeArgs(
  args: Record<string, unknown>,
): { args: Record<string, unknown>; shortened: boolean } {
  const out: Record<string, unknown> = {};
  let shortened = false;
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === "string" && v.length > ARG_TEXT_LIMIT) {
      out[k] = v.slice(0, ARG_TEXT_LIMIT) + `…(${v.length} chars)`;
      shortened = true;
    } else if (v !== null && typeof v === "object") {
      const text = canonicalJson(v);
      if (text.length > ARG_TEXT_LIMIT) {
        out[k] = `${text.slice(0, ARG_TEXT_LIMIT)}…`;
        shortened = true;
      } else {
        out[k] = v;
      }
    } else {
      out[k] = v;
    }
  }
  return { args: out, shortened };
}

/**
 * A call's cancellation: aborts its signal when the client cancels or when
 * `limitMs` passes, whichever comes first. Unlike `AbortSignal.timeout()`,
 * whose timer cannot be cancelled and keeps the signal graph alive until it
 * fires, `clear()` releases everything when the call ends. The deadline may
 * fire up to one slot of {@linkcode Deadlines} (10 ms) late, never early.
 */
class CallDeadline {
  readonly #controller = new AbortController();
  readonly #parent: AbortSignal;
  readonly #cancelTimer: () => void;
  readonly #onCancel = (): void => this.#controller.abort(this.#parent.reason);
  #expired = false;

  constructor(parent: AbortSignal, limitMs: number) {
    this.#parent = parent;
    if (parent.aborted) this.#controller.abort(parent.reason);
    else parent.addEventListener("abort", this.#onCancel, { once: true });
    this.#cancelTimer = CALL_DEADLINES.after(limitMs, () => {
      this.#expired = true;
      this.#controller.abort(
        new DOMException(`Call exceeded ${formatDuration(limitMs)}`, "TimeoutError"),
      );
    });
  }

  /** Aborted on cancellation or at the deadline. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the deadline passed (as opposed to a cancellation). */
  get expired(): boolean {
    return this.#expired;
  }

  /** Stop the timer and the cancellation listener. */
  clear(): void {
    this.#cancelTimer();
    this.#parent.removeEventListener("abort", this.#onCancel);
  }
}

function asLoomError(error: unknown, limitMs: number, deadlineHit: boolean): LoomError {
  if (deadlineHit) {
    return new LoomError(
      "UPSTREAM_TIMEOUT",
      `Call exceeded max_execution_time of ${formatDuration(limitMs)}`,
    );
  }
  if (error instanceof LoomError) return error;
  if (error instanceof DOMException && error.name === "AbortError") {
    return new LoomError("UPSTREAM_FAILED", "Call cancelled by the client");
  }
  console.error("loom: unexpected error in bridge:", error);
  return new LoomError("INTERNAL", "Internal error while calling the upstream");
}

/** A refusal of step 7 that the broker did not word (no broker, or it failed). */
function unavailable(
  name: string,
  reason: string,
): { ok: false; name: string; reason: string; message?: string } {
  return { ok: false, name, reason };
}
