/**
 * Step 8, execute: the executor runs the bridge (in this process, or in the
 * agent's sandboxed host process) within the whole-call deadline, with the
 * response size cap and the config's private networks. An upstream error
 * status becomes a tool error carrying a bounded, redacted excerpt of the
 * upstream's own text; the outcome keeps the status and a digest of what was
 * shown, never the text.
 *
 * The client that made the call hears how far it has come, when it asked
 * (`docs/architecture.md`, the life of a call): progress 1/3 `sent`, 2/3
 * `headers received: <status>` (from the executor's `onResponseHead`, in
 * process or from the sandboxed host), 3/3 `body received`; and log
 * messages, filtered by the level it asked for: `debug` when the request
 * leaves (tool, method, host), then `info` with the outcome (status, bytes,
 * duration) or `warning` for a failure (error code, upstream status). Every
 * field is the config's or LOOM's own (names, numbers, codes): nothing from
 * the arguments, the secrets or the upstream's text, and no URL.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Deadlines } from "../../_util/deadlines.ts";
import { formatDuration } from "../../_util/units.ts";
import { LoomError } from "../../errors.ts";
import type { CallStatus, OutcomeFields } from "../../security/audit/mod.ts";
import { UpstreamStatusError } from "../../upstream/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import type { Released } from "./07_secrets.ts";
import { runComposite } from "./composite.ts";

/** What running the bridge gave: the answer and its outcome fields. */
export interface Executed {
  status: CallStatus;
  result: CallToolResult;
  fields: OutcomeFields;
  /**
   * Only for a tool with an `output_schema` whose upstream sent JSON: the
   * value of the result's text (the JSON of what `response_path` selected),
   * or null when that text is not JSON. Step 9 reads it again from the
   * redacted text. Absent: the upstream did not send JSON.
   */
  json?: { readonly value: unknown } | null;
}

/**
 * The value of a JSON text, or null when it is not JSON.
 *
 * @param text a result's text
 */
export function readJson(text: string | undefined): { readonly value: unknown } | null {
  if (text === undefined) return null;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return null;
  }
}

/** Progress of a call that reaches step 8: sent, headers received, body received. */
const PROGRESS_STAGES = 3;

/** `host[:port]` of the bridge's configured origin (`scheme://host[:port]`): no path, no query. */
function hostOf(entry: ToolEntry): string {
  const origin = entry.origin;
  return origin.slice(origin.indexOf("//") + 2);
}

/** Milliseconds since `start`, to the microsecond. */
function millisSince(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
}

/** Every call's deadline in this process, on shared timers. */
const CALL_DEADLINES = new Deadlines();

/**
 * Run the call. Never throws: every failure is an `error` or `timeout`
 * outcome with a tool error.
 */
export async function executeCall(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
  input: Record<string, unknown>,
  released: Released,
): Promise<Executed> {
  // A composite's steps call other tools through their own gates (`composite.ts`).
  if (entry.target.kind === "composite") {
    return await runComposite(parts, call, entry.target.composite, input);
  }
  const runtime = parts.config.runtime;
  // One controller carries both the client's cancellation and the deadline;
  // its timer is cleared when the call ends, so nothing of the call outlives it.
  const deadline = new CallDeadline(call.ctx.signal, runtime.maxExecutionTimeMs);
  const { ctx } = call;
  if (entry.target.kind !== "bridge") {
    throw new TypeError(`Tool "${call.tool}" is not served by an HTTP bridge`);
  }
  const bridge = entry.target.bridge;
  const method = bridge.method;
  ctx.log("debug", { event: "upstream_request", tool: call.tool, method, host: hostOf(entry) });
  ctx.progress?.(1, PROGRESS_STAGES, "sent");
  const sentAt = performance.now();
  call.executed = true;
  try {
    const res = await parts.executor.run(bridge, input, {
      signal: deadline.signal,
      maxResponseBytes: runtime.maxResponseBytes,
      allowNetworks: runtime.allowNetworks,
      secrets: released.values,
      // Only when the client asked for progress: else a sandboxed host is not asked to tell.
      onResponseHead: ctx.progress === undefined ? undefined : (status) => {
        ctx.progress?.(2, PROGRESS_STAGES, `headers received: ${status}`);
      },
    });
    ctx.progress?.(3, PROGRESS_STAGES, "body received");
    ctx.log("info", {
      event: "upstream_response",
      tool: call.tool,
      method,
      status: res.status,
      bytes: res.bytes,
      duration_ms: millisSince(sentAt),
    });
    const executed: Executed = {
      status: "success",
      result: { content: [{ type: "text", text: res.text }] },
      // Keys in canonical order: serialised in one native call.
      fields: { http: { bytes: res.bytes, method: res.method, status: res.status, url: res.url } },
    };
    // Read back from the text, not taken from `res.structured`: what the
    // client gets as structure is then exactly what it gets as text, even
    // from a sandboxed executor that sent the two apart.
    if (entry.output !== null && "structured" in res) executed.json = readJson(res.text);
    return executed;
  } catch (error) {
    const err = asLoomError(error, runtime.maxExecutionTimeMs, deadline.expired);
    const status = err.code === "UPSTREAM_TIMEOUT" ? "timeout" : "error";
    const failed: Record<string, unknown> = {
      event: "upstream_error",
      tool: call.tool,
      method,
      code: err.code,
      duration_ms: millisSince(sentAt),
    };
    if (err instanceof UpstreamStatusError) {
      // An error status came with its body (read for the excerpt).
      ctx.progress?.(3, PROGRESS_STAGES, "body received");
      failed.status = err.status;
    }
    ctx.log("warning", failed);
    if (!(err instanceof UpstreamStatusError)) {
      return {
        status,
        result: toolError(err.message),
        fields: { error: err.message, code: err.code },
      };
    }
    // The upstream's own text is redacted whole before it is cut for the
    // message; the log keeps the status and a digest of what was shown.
    const shownErr = released.redaction
      ? new UpstreamStatusError(err.status, released.redaction.redact(err.detail))
      : err;
    const fields: OutcomeFields = {
      error: err.statusLine,
      code: err.code,
      upstream_status: err.status,
    };
    const shown = shownErr.excerpt;
    if (shown !== "") {
      fields.error_excerpt_sha256 = createHash("sha256").update(shown).digest("hex");
    }
    return { status, result: toolError(shownErr.message), fields };
  } finally {
    deadline.clear();
  }
}

/**
 * A call's cancellation: aborts its signal when the client cancels or when
 * `limitMs` passes, whichever comes first. Unlike `AbortSignal.timeout()`,
 * whose timer cannot be cancelled and keeps the signal graph alive until it
 * fires, `clear()` releases everything when the call ends. The deadline may
 * fire up to one slot of {@linkcode Deadlines} (10 ms) late, never early.
 */
export class CallDeadline {
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

/**
 * Any failure of an execution as a LoomError: the deadline, a cancellation,
 * LOOM's own errors as they are, anything else as an internal error.
 */
export function asLoomError(error: unknown, limitMs: number, deadlineHit: boolean): LoomError {
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
