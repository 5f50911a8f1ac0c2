/**
 * What the steps of the gate share: the agent's parts (built once per gate)
 * and one call's state (built once per call). Each step is a function of
 * these; none keeps state of its own.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { UpstreamCaller } from "./08_execute_upstream.ts";
import type { SiblingTools } from "./composite.ts";
import type { AgentConfig } from "../../config/mod.ts";
import type { CallErrorKind, DenialReason } from "../../_util/loom_metrics.ts";
import type { AuditLog, CallStatus, RefusalCoalescer } from "../../security/audit/mod.ts";
import type { RateLimiter } from "../../security/rate_limit/mod.ts";
import type { PatternWorker } from "../../security/validate/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import type { BridgeExecutor } from "./executor.ts";
import type { SecretSource } from "./07_secrets.ts";
import type { UnrecordedCalls } from "./unrecorded.ts";
import type { ApprovalDesk } from "./approvals.ts";

/** Longest subject recorded whole; a longer one is shortened (see {@linkcode recordedSubject}). */
const MAX_RECORDED_SUBJECT = 128;
/** Characters of a long subject kept before its digest. */
const SUBJECT_PREFIX = 64;

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
  /** Where held calls' approvals live; without one, a held call is refused. */
  readonly approvals: ApprovalDesk | undefined;
  /** The agent's MCP upstream (gateway mode); absent for an agent of HTTP bridges. */
  readonly upstream?: UpstreamCaller;
  /** Where a composite tool's steps go (the gate's own tools, or the mesh's). */
  readonly siblings: SiblingTools;
}

/**
 * The composite call behind a step's context, by context: set by
 * `composite.ts` on the context it makes for each step, read by
 * {@linkcode GateCall.parent}. Weak, so a context's entry goes with it.
 */
export const COMPOSITE_PARENTS: WeakMap<ToolCallContext, string> = new WeakMap();

/** One call on its way through the gate. */
export class GateCall {
  /** Unique within the process's lifetime: `<8 hex>-<n>`. */
  readonly id: string;
  /** The tool name the client asked for (not necessarily one the agent has). */
  readonly tool: string;
  /** The client's name from its `initialize`, when it gave one. */
  readonly client: string | null;
  /**
   * The OAuth caller's `sub` as records carry it (bounded), or null when the
   * transport authenticated no subject (stdio, static tokens, no auth).
   */
  readonly subject: string | null;
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
  /**
   * Why the gate refused the call, when it did (for `/metrics`): set by the
   * step that refused it; a `held` or `denied` outcome without one is
   * classified from {@linkcode GateCall.status}.
   */
  denial: DenialReason | null = null;
  /** The status its outcome record carries, once step 10 recorded it. */
  status: CallStatus | null = null;

  constructor(id: string, tool: string, ctx: ToolCallContext) {
    this.id = id;
    this.tool = tool;
    this.ctx = ctx;
    this.client = ctx.client?.name ?? null;
    this.subject = recordedSubject(ctx);
  }

  /**
   * The call of the composite tool that made this one, or null for a
   * client's own call (`composite.ts` marks the context it hands down).
   */
  get parent(): string | null {
    return COMPOSITE_PARENTS.get(this.ctx) ?? null;
  }

  /** `{ parent }` for the intent and outcome of a composite's step, or nothing. */
  parentField(): { parent?: string } {
    const parent = this.parent;
    return parent === null ? {} : { parent };
  }

  /** `{ subject }` for a record of this call, or nothing when there is no subject. */
  subjectField(): { subject?: string } {
    return this.subject === null ? {} : { subject: this.subject };
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

/**
 * The caller's subject (an OAuth `sub`) as an audit record carries it: whole
 * up to 128 characters; a longer one as its first 64 characters, `…` and
 * `sha256:<32 hex>` of the whole, so records stay small and two long
 * subjects stay apart. The subject names the caller; it is not a credential.
 *
 * @param ctx the call's context, from the engine
 * @returns the recorded subject, or null without a principal
 */
export function recordedSubject(ctx: ToolCallContext): string | null {
  const subject = ctx.principal?.subject;
  if (typeof subject !== "string" || subject === "") return null;
  if (subject.length <= MAX_RECORDED_SUBJECT) return subject;
  const hash = createHash("sha256").update(subject).digest("hex").slice(0, 32);
  // Never cut a surrogate pair in two.
  const high = subject.charCodeAt(SUBJECT_PREFIX - 1);
  const cut = high >= 0xd800 && high <= 0xdbff ? SUBJECT_PREFIX - 1 : SUBJECT_PREFIX;
  return `${subject.slice(0, cut)}…sha256:${hash}`;
}

/** Why a finished call was refused, or null when it was not. */
export function denialOf(call: GateCall): DenialReason | null {
  if (call.denial !== null) return call.denial;
  if (call.status === "held") return "held";
  if (call.status === "denied") return "secret_denied";
  return null;
}

/** The kind of a tool error of a call that was not refused, or null. */
export function errorKindOf(call: GateCall, result: CallToolResult): CallErrorKind | null {
  if (result.isError !== true) return null;
  return call.status === "timeout" ? "timeout" : "error";
}
